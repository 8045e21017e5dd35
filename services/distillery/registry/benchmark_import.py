"""Importing the benchmarks into the registry as `problems` datasets: the library that
``distillery registry import-benchmarks`` and ``distillery run`` call.

Re-importing unchanged data makes no new version: a version is looked up by the content hash of
its rows first.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import grpc

from distillery.registry.benchmarks import BenchmarkLoad, iter_jsonl_bytes, load_benchmark
from distillery.registry.client import RegistryClient, header
from distillery.registry.names import PUBLIC_TEAM
from distillery.v1 import registry_pb2 as pb

REPO = Path(__file__).resolve().parents[3]


def import_benchmarks(client: RegistryClient, names: Iterable[str], data_dir: Path, *, share: bool = False,
                      on_imported: Callable[[pb.Manifest, BenchmarkLoad], None] | None = None) -> list[dict]:
    """Push each benchmark as a `problems` dataset unless the same rows are already there;
    ``{ref, rows, dropped}`` per benchmark, ``on_imported`` called with each as it is done.

    The client's token says where they go: a team's token imports the team's own copy, the admin
    token the public namespace every team reads (see :data:`~distillery.registry.names.PUBLIC_TEAM`)."""
    namespace = client.whoami().team or PUBLIC_TEAM
    results = []
    for name in names:
        loaded = load_benchmark(name, data_dir)
        content = hashlib.sha256(b"".join(iter_jsonl_bytes(loaded.rows))).hexdigest()
        # TEAM/ named: a team-less name would find the public copy when the team has none of its own
        manifest = _existing(client, f"{namespace}/{name}@sha256:{content}")
        if manifest is None:
            meta = {"source": loaded.source[:250], "dropped": str(len(loaded.dropped))}
            manifest = client.push(header(name, "problems", meta=meta, share=share, stage="import-benchmarks",
                                          config={"data_dir": str(data_dir)}), iter_jsonl_bytes(loaded.rows))
        results.append({"ref": manifest.ref if namespace == PUBLIC_TEAM else f"{manifest.name}@{manifest.version}", "rows": manifest.rows,
                        "dropped": len(loaded.dropped)})
        if on_imported:
            on_imported(manifest, loaded)
    return results


def default_data_dir() -> Path:
    """``DISTILLERY_SHARED_DATA``, else ``../shared/data`` beside the working directory or the
    checkout; FileNotFoundError when there is none."""
    env = os.environ.get("DISTILLERY_SHARED_DATA")
    if env:
        return Path(env)
    for candidate in (Path.cwd().parent / "shared" / "data", REPO.parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("benchmark data not found; pass --data-dir or set DISTILLERY_SHARED_DATA")


def _existing(client: RegistryClient, ref: str) -> pb.Manifest | None:
    try:
        return client.show(ref)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise
