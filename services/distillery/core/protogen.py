"""Regenerate the gRPC Python code in ``services/distillery/v1`` from ``protos/``.

    python -m distillery.core.protogen            # rewrite the committed files
    python -m distillery.core.protogen --check    # exit 1 if they drifted from the protos

The generated modules are committed (so installing needs no code generation) and pinned
to the grpcio-tools version in pyproject.toml; a test runs ``--check``.

Some ``.proto`` files are themselves generated, from the pydantic model that defines a contract
once (:data:`MODEL_PROTOS`, rendered by :mod:`distillery.core.pydantic_proto`); they are
rewritten first, then protoc runs on everything.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PROTOS = REPO / "protos"
OUTPUT = REPO / "services"


# .proto file -> "module:Model[,Model...]" it is generated from.
MODEL_PROTOS = {
    "distillery/v1/trainer_config.proto": "distillery.trainer.trainer_config:TrainerConfig",
    "distillery/v1/teacher_config.proto": "distillery.teacher.config:TeacherGeneration,TeacherJobConfig",
}


def model_proto(relative: str, committed: str | None) -> str:
    """The text of the generated ``.proto`` at ``relative``, numbered as ``committed``."""
    from distillery.core.pydantic_proto import render_proto

    module, names = MODEL_PROTOS[relative].split(":")
    models = tuple(getattr(importlib.import_module(module), name) for name in names.split(","))
    source = ", ".join(f"{module}.{name}" for name in names.split(","))
    return render_proto(models, package="distillery.v1", source=source, committed=committed)


def write_model_protos() -> list[Path]:
    written = []
    for relative in MODEL_PROTOS:
        path = PROTOS / relative
        committed = path.read_text() if path.exists() else None
        text = model_proto(relative, committed)
        if text != committed:
            path.write_text(text)
            written.append(path)
    return written


def proto_files() -> list[Path]:
    return sorted(PROTOS.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every proto into ``out_dir``; returns the generated files."""
    from grpc_tools import protoc  # build-time tool, imported only here

    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    sources = [str(p.relative_to(PROTOS)) for p in proto_files()]
    args = ["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}", *sources]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    return sorted(p for p in out_dir.rglob("*_pb2*.py*"))


def drifted() -> list[str]:
    """Generated files that differ from (or are missing in) the committed tree."""
    problems = []
    for relative in MODEL_PROTOS:
        path = PROTOS / relative
        committed = path.read_text() if path.exists() else None
        if model_proto(relative, committed) != committed:
            problems.append(f"{path.relative_to(REPO)} (its model changed)")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        for path in fresh:
            committed = OUTPUT / path.relative_to(tmp)
            if not committed.exists() or not filecmp.cmp(path, committed, shallow=False):
                problems.append(str(committed.relative_to(REPO)))
        expected = {OUTPUT / p.relative_to(tmp) for p in fresh}
        stale = [p for p in (OUTPUT / "distillery" / "v1").glob("*_pb2*.py*") if p not in expected]
        return problems + [f"{p.relative_to(REPO)} (no proto)" for p in stale]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the committed code is current")
    args = parser.parse_args()
    if args.check:
        problems = drifted()
        if problems:
            print("generated gRPC code is out of date; run `make protos`:", *problems, sep="\n  ")
            sys.exit(1)
        print("generated gRPC code is current")
        return
    for path in write_model_protos() + generate(OUTPUT):
        print(path.relative_to(REPO))


if __name__ == "__main__":
    main()
