"""Copy a model's files from the object store into a directory: the vLLM teacher pool's init
container when teacherPool.model.source is `s3` (vLLM then serves the local directory).

Usage: python fetch_model.py TARGET_DIR
Environment: DISTILLERY_S3_ENDPOINT, DISTILLERY_S3_ACCESS_KEY, DISTILLERY_S3_SECRET_KEY,
DISTILLERY_S3_SECURE, DISTILLERY_MODEL_BUCKET, DISTILLERY_MODEL_PREFIX (the model's key prefix;
the files keep their paths below it).

A file already present with the object's size is kept (a restarted init container resumes);
each file is written to a temporary name and renamed, so a partial file never looks complete.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from minio import Minio


def fetch(client: Minio, bucket: str, prefix: str, target: Path) -> tuple[int, int]:
    """Download every object under ``prefix``; return (files fetched, files kept)."""
    prefix = prefix.strip("/") + "/"
    fetched = kept = 0
    for obj in client.list_objects(bucket, prefix=prefix, recursive=True):
        relative = obj.object_name[len(prefix):]
        if not relative or obj.is_dir:
            continue
        path = (target / relative).resolve()
        if target.resolve() not in path.parents:
            raise SystemExit(f"refusing {obj.object_name!r}: it would land outside {target}")
        if path.exists() and path.stat().st_size == obj.size:
            kept += 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        client.fget_object(bucket, obj.object_name, str(partial))
        partial.replace(path)
        fetched += 1
    if fetched + kept == 0:
        raise SystemExit(f"no objects under s3://{bucket}/{prefix}")
    return fetched, kept


def main() -> int:
    if len(sys.argv) != 2:
        raise SystemExit("usage: fetch_model.py TARGET_DIR")
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    from distillery.core.s3 import S3Config

    # S3Config: HTTPS checked against DISTILLERY_S3_CA_BUNDLE (the chart's CA) when it is set.
    client = S3Config(endpoint=os.environ["DISTILLERY_S3_ENDPOINT"], access_key=os.environ["DISTILLERY_S3_ACCESS_KEY"],
                      secret_key=os.environ["DISTILLERY_S3_SECRET_KEY"],
                      secure=os.environ.get("DISTILLERY_S3_SECURE", "false").lower() == "true").minio()
    bucket, prefix = os.environ["DISTILLERY_MODEL_BUCKET"], os.environ["DISTILLERY_MODEL_PREFIX"]
    fetched, kept = fetch(client, bucket, prefix, target)
    print(f"s3://{bucket}/{prefix.strip('/')}/ -> {target}: {fetched} fetched, {kept} already there", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
