"""The published JSON Schemas of every ``--json`` output, generated so they cannot drift.

    python -m distillery.cli.schemas            # rewrite docs/schemas/
    python -m distillery.cli.schemas --check    # exit 1 if docs/schemas/ is not what the code prints

Both refuse (exit 1) while a command that takes ``--json`` is in no output's ``commands``.

A proto-shaped output's schema is derived from the message's descriptor with the typing rules of
:mod:`distillery.cli.output` (64-bit integers are integers, JSON-carrying strings are their
model's objects, every field without presence is always there); any other output's is its
pydantic model's (:mod:`distillery.cli.json_shapes`). A test runs ``--check``.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from pydantic import BaseModel

from distillery.cli import json_shapes
from distillery.cli.output import FREE_FORM, JSON_STRING_FIELDS, is_map

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "docs" / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class Output:
    shape: type[Message] | type[BaseModel]
    commands: tuple[str, ...]  # the command lines that print it
    many: bool = False  # a JSON array of them


def _outputs() -> dict[str, Output]:
    from distillery.serving.solving import SolveResponse
    from distillery.v1 import jobs_pb2, registry_pb2, teacher_pb2, trainer_pb2, verifier_pb2

    return {
        "manifest": Output(registry_pb2.Manifest, ("registry push --json", "registry show --json",
                                                   "registry tag --json", "registry delete --json",
                                                   "registry restore --json")),
        "manifests": Output(registry_pb2.Manifest, ("registry ls --json", "registry lineage --json"), many=True),
        "pulled-dataset": Output(json_shapes.PulledDataset, ("registry pull DATASET -o FILE --json",)),
        "pulled-model": Output(json_shapes.PulledModel, ("registry pull MODEL -o DIR --json",)),
        "job": Output(jobs_pb2.DistillJob, ("jobs get --json", "jobs watch --json", "jobs submit --json",
                                            "run --json")),
        "jobs": Output(jobs_pb2.DistillJob, ("jobs ls --json",), many=True),
        "teams": Output(registry_pb2.TeamInfo, ("team ls --json",), many=True),
        "tokens": Output(registry_pb2.TokenInfo, ("team token list --json",), many=True),
        "token": Output(registry_pb2.TokenInfo, ("team token revoke --json",)),
        "rotated-token": Output(registry_pb2.RotateTokenResponse, ("team token rotate --json",)),
        "whoami": Output(registry_pb2.Principal, ("whoami --json",)),
        "teacher-generation": Output(json_shapes.TeacherJobOutput, ("teacher generate --json",)),
        "teacher-pools": Output(teacher_pb2.ListPoolsResponse, ("teacher pools --json",)),
        "deployment": Output(json_shapes.Deployment, ("serve deploy --json",)),
        "deployments": Output(json_shapes.ServedDeployment, ("serve ls --json",), many=True),
        "solve": Output(SolveResponse, ("solve --json",)),
        "eval-summary": Output(json_shapes.EvalSummary, ("eval --json",)),
        "score-summary": Output(json_shapes.ScoreSummary, ("eval --score FILE --json",)),
        "imported-benchmarks": Output(json_shapes.ImportedBenchmark, ("registry import-benchmarks --json",),
                                      many=True),
        "training-job": Output(trainer_pb2.TrainJob, ("train --json", "train --detach --json",
                                                      "trainer status --json", "trainer watch --json")),
        "training-jobs": Output(trainer_pb2.TrainJob, ("trainer jobs --json",), many=True),
        "local-training": Output(json_shapes.LocalTraining, ("train --local --json",)),
        "verifier-info": Output(verifier_pb2.VerifierInfo, ("verifier info --json",)),
        "verify-summary": Output(json_shapes.VerifySummary, ("verify -o FILE --json",)),
        "stack": Output(json_shapes.StackStatus, ("up --json", "status")),
    }


_SCALARS = {
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
}
_FREE_FORM_SCHEMAS = {"google.protobuf.Struct": {"type": "object"}, "google.protobuf.Value": {},
                      "google.protobuf.ListValue": {"type": "array"}}


class _Schemas:
    """Builds one output's schema, collecting the definitions it refers to."""

    def __init__(self) -> None:
        self.defs: dict[str, dict] = {}

    def message(self, descriptor: Descriptor) -> dict:
        if descriptor.full_name in FREE_FORM:
            return dict(_FREE_FORM_SCHEMAS[descriptor.full_name])
        name = descriptor.full_name
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: recursive messages refer to it while it is built
            self.defs[name] = {
                "type": "object", "additionalProperties": False,
                "properties": {f.name: self.field(f) for f in descriptor.fields},
                "required": [f.name for f in descriptor.fields if not f.has_presence],
            }
        return {"$ref": f"#/$defs/{name}"}

    def field(self, field: FieldDescriptor) -> dict:
        if is_map(field):
            return {"type": "object", "additionalProperties": self.single(field.message_type.fields_by_name["value"])}
        if field.is_repeated:
            return {"type": "array", "items": self.single(field)}
        return self.single(field)

    def single(self, field: FieldDescriptor) -> dict:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            return self.message(field.message_type)
        if field.type == FieldDescriptor.TYPE_ENUM:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        if field.full_name in JSON_STRING_FIELDS:
            module, name = JSON_STRING_FIELDS[field.full_name].split(":")
            model = getattr(importlib.import_module(module), name)
            return {"anyOf": [self.model(model), {"type": "null"}]}
        return dict(_SCALARS.get(field.type, {"type": "integer"}))

    def model(self, model: type[BaseModel]) -> dict:
        """A pydantic model's schema, its definitions namespaced by the model's name."""
        schema = model.model_json_schema(mode="serialization")
        prefix = f"{model.__name__}."

        def renamed(value):
            if isinstance(value, dict):
                return {k: (v.replace("#/$defs/", f"#/$defs/{prefix}") if k == "$ref" else renamed(v))
                        for k, v in value.items()}
            if isinstance(value, list):
                return [renamed(v) for v in value]
            return value

        for name, definition in schema.pop("$defs", {}).items():
            self.defs[prefix + name] = renamed(definition)
        self.defs[model.__name__] = renamed(schema)
        return {"$ref": f"#/$defs/{model.__name__}"}

    def shape(self, shape) -> dict:
        return self.message(shape.DESCRIPTOR) if isinstance(shape, type) and issubclass(shape, Message) \
            else self.model(shape)


def schema(name: str, output: Output) -> dict:
    builder = _Schemas()
    item = builder.shape(output.shape)
    body = {"type": "array", "items": item} if output.many else item
    commands = ", ".join(f"`distillery {c}`" for c in output.commands)
    return {"$schema": DRAFT, "$id": f"distillery/schemas/{name}.schema.json", "title": name,
            "description": f"What {commands} prints on stdout (one line).", **body,
            "$defs": dict(sorted(builder.defs.items()))}


def rendered() -> dict[str, str]:
    """Every file of docs/schemas/: NAME.schema.json per output, and README.md mapping commands to them."""
    outputs = _outputs()
    files = {f"{name}.schema.json": json.dumps(schema(name, output), indent=2, sort_keys=False) + "\n"
             for name, output in outputs.items()}
    rows = "\n".join(f"| {', '.join(f'`{c}`' for c in output.commands)} | [{name}]({name}.schema.json) |"
                     for name, output in outputs.items())
    files["README.md"] = (
        "# JSON output schemas\n\n"
        "Generated by `python -m distillery.cli.schemas` from the proto descriptors and the output models: "
        "edit those, not these files (a test fails when they differ, or when a command takes `--json` and "
        "no schema here lists it).\n\n"
        "Every `--json` output is one line of JSON on stdout with real types: integers (64-bit ones "
        "included) are JSON integers, nested objects are objects, never JSON inside a string; every "
        "field without presence is always printed, defaults included. Registry `meta` values are "
        "free-form string labels; typed values live in `lineage.config`.\n\n"
        "| command | schema |\n|---|---|\n" + rows + "\n")
    return files


def json_commands() -> set[str]:
    """Every command (``registry ls``) that takes ``--json``, walked from the CLI itself."""
    import click

    from distillery.cli.main import cli

    def walk(command: click.Command, path: tuple[str, ...]):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, (*path, name))
        elif any("--json" in getattr(param, "opts", ()) for param in command.params):
            yield " ".join(path)

    return set(walk(cli, ()))


def without_schema(outputs: dict[str, Output]) -> list[str]:
    """The ``--json`` commands no output lists: their output would be unpublished."""
    listed = {" ".join(itertools.takewhile(lambda w: w.islower() and not w.startswith("-"), line.split()))
              for output in outputs.values() for line in output.commands}
    return sorted(json_commands() - listed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if docs/schemas/ is out of date.")
    args = parser.parse_args(argv)
    unpublished = without_schema(_outputs())
    if unpublished:
        print(f"no schema for the --json output of {', '.join(unpublished)}: add it to _outputs() in "
              f"{Path(__file__).name}", file=sys.stderr)
        return 1
    files = rendered()
    stale = [name for name, text in files.items()
             if not (SCHEMAS / name).exists() or (SCHEMAS / name).read_text() != text]
    extra = sorted(p.name for p in SCHEMAS.glob("*.schema.json") if p.name not in files) if SCHEMAS.exists() else []
    if args.check:
        if stale or extra:
            print(f"docs/schemas/ is out of date ({', '.join(stale + extra)}): run "
                  "`python -m distillery.cli.schemas`", file=sys.stderr)
            return 1
        return 0
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (SCHEMAS / name).write_text(files[name])
    for name in extra:
        (SCHEMAS / name).unlink()
    print(f"wrote {len(stale)}, removed {len(extra)} file(s) in {SCHEMAS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
