"""Every ``--json`` output, rendered one way: real JSON types, so a script never parses twice.

Proto messages go through :func:`message_dict`, which fixes what protobuf's JSON mapping does to a
script: 64-bit integers become JSON integers (the mapping writes them as strings), whole numbers
in a ``google.protobuf.Struct`` (a lineage config, where every number is a double) become integers
again, and the string fields that carry JSON (:data:`JSON_STRING_FIELDS`) become the objects they
hold. Every field is printed, defaults included, so each output has one shape. The same rules
derive the published JSON Schemas (:mod:`distillery.cli.schemas`), so the two cannot drift.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from pydantic import BaseModel

INT64_TYPES = frozenset({FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
                         FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64})
# google.protobuf.Struct and friends: free-form JSON whose numbers are all doubles.
FREE_FORM = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
# String fields that hold a JSON document: the pydantic model whose ``model_dump(mode="json")`` it is.
JSON_STRING_FIELDS = {"distillery.v1.DistillJob.spec": "distillery.jobs.spec:JobSpec"}


def message_dict(message: Message) -> dict:
    """``message`` as JSON of real types (see the module's docstring)."""
    raw = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                    always_print_fields_with_no_presence=True)
    return _typed_message(raw, message.DESCRIPTOR)


def _typed_message(value: dict, descriptor: Descriptor) -> dict:
    if descriptor.full_name in FREE_FORM:
        return _whole_numbers(value)
    fields = descriptor.fields_by_name
    return {key: _typed_field(item, fields[key]) if key in fields else item for key, item in value.items()}


def _typed_field(value: Any, field: FieldDescriptor) -> Any:
    if is_map(field):
        value_field = field.message_type.fields_by_name["value"]
        return {k: _typed_single(v, value_field) for k, v in value.items()}
    if field.is_repeated:
        return [_typed_single(v, field) for v in value]
    return _typed_single(value, field)


def _typed_single(value: Any, field: FieldDescriptor) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _typed_message(value, field.message_type)
    if field.type in INT64_TYPES and isinstance(value, str):
        return int(value)
    if field.full_name in JSON_STRING_FIELDS:
        return json.loads(value) if value else None
    return value


def is_map(field: FieldDescriptor) -> bool:
    return (field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
            and field.is_repeated)


def _whole_numbers(value: Any) -> Any:
    """A Struct's doubles that hold whole numbers (``limit: 50.0``) as the integers they were."""
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def as_json(value: Any) -> Any:
    """Any output value (messages, pydantic models, lists of them, plain dicts) as JSON data."""
    if isinstance(value, Message):
        return message_dict(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


def echo_json(value: Any) -> None:
    """Print one ``--json`` output on stdout: one line, real types."""
    click.echo(json.dumps(as_json(value)))


def columns(rows) -> str:
    """``KEY  VALUE`` lines, the keys padded to the longest one (a long key keeps its column)."""
    width = max((len(key) for key, _ in rows), default=0)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


@contextlib.contextmanager
def text_output(path: Path) -> Iterator[IO[str]]:
    """Write to ``path`` atomically, or to stdout when it is ``-`` (the Unix convention)."""
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    from distillery.core.jsonl import atomic_writer

    with atomic_writer(path) as handle:
        yield handle
