"""A pydantic model as a protobuf message: the ``.proto`` text generated from the model, and the
conversions both ways. Used where a config is defined once in Python and travels typed over gRPC
(``TrainerConfig``): the model holds the fields, their help text, defaults and cross-field rules;
the message is its wire form.

Every scalar field is ``optional`` (explicit presence): an unset field means "the model's
default", so defaults live in the model only, and ``False`` / ``0`` travel as values. Field
numbers are kept from the committed ``.proto`` (a new field gets the next number, a removed one
is ``reserved``), so messages stay readable across versions.
"""

from __future__ import annotations

import re
import textwrap
import types
import typing
from typing import Literal, Union

import annotated_types
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import BaseModel

INT32_MAX = (1 << 31) - 1


def to_message(model: BaseModel, message_class: type[Message]) -> Message:
    """``model`` as ``message_class``; None fields stay unset."""
    return json_format.ParseDict(model.model_dump(mode="json", exclude_none=True), message_class())


def from_message(message: Message, model_class: type[BaseModel]) -> BaseModel:
    """The model a message carries; unset fields take the model's defaults. Validates (ValidationError)."""
    return model_class.model_validate(json_format.MessageToDict(message, preserving_proto_field_name=True))


# --- generating the .proto ------------------------------------------------------------------------

def render_proto(roots: tuple[type[BaseModel], ...], *, package: str, source: str, committed: str | None) -> str:
    """The ``.proto`` text for ``roots`` and the models their fields hold, numbered as in ``committed``."""
    numbers = _committed_numbers(committed or "")
    models: list[type[BaseModel]] = []
    for root in roots:
        models += [model for model in _models_under(root) if model not in models]
    messages = [_render_message(model, numbers.get(model.__name__, ({}, set()))) for model in models]
    header = (f"// Generated from {source} by `make protos`: edit the model, not this file.\n"
              f'syntax = "proto3";\n\npackage {package};\n')
    return header + "\n" + "\n\n".join(messages) + "\n"


def _models_under(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model its fields hold, each once, nested ones first."""
    seen: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        for field in model.model_fields.values():
            nested = _proto_type(field.annotation, field.metadata)[1]
            if nested is not None and nested not in seen:
                visit(nested)
        if model not in seen:
            seen.append(model)

    visit(root)
    return seen


def _render_message(model: type[BaseModel], committed: tuple[dict[str, int], set[int]]) -> str:
    numbers, reserved = committed
    taken = set(numbers.values()) | reserved
    lines = [f"message {model.__name__} {{"]
    doc = (model.__doc__ or "").strip().split("\n\n")[0]
    if doc:
        lines[:0] = _comment(" ".join(doc.split()), "")
    for name, field in model.model_fields.items():
        proto_type, _ = _proto_type(field.annotation, field.metadata)
        number = numbers.get(name)
        if number is None:
            number = max(taken, default=0) + 1
            taken.add(number)
        if field.description:
            lines += _comment(field.description, "  ")
        lines.append(f"  {proto_type} {name} = {number};")
    gone = sorted(reserved | {n for f, n in numbers.items() if f not in model.model_fields})
    if gone:
        lines.append(f"  reserved {', '.join(map(str, gone))};")
    return "\n".join(lines + ["}"])


def _comment(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, 100, initial_indent=f"{indent}// ", subsequent_indent=f"{indent}// ")


def _proto_type(annotation, metadata) -> tuple[str, type[BaseModel] | None]:
    """``(proto type with its label, nested model or None)`` for a field's annotation."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        if len(present) != 1:
            raise TypeError(f"{annotation}: only `X | None` unions have a protobuf form")
        annotation = present[0]
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (tuple, list):
        element, nested = _scalar(args[0], ())
        return f"repeated {element}", nested
    scalar, nested = _scalar(annotation, metadata)
    return (scalar if nested else f"optional {scalar}"), nested


def _scalar(annotation, metadata) -> tuple[str, type[BaseModel] | None]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__, annotation
    if annotation is bool:
        return "bool", None
    if annotation is int:
        bounds = [m.le for m in metadata if isinstance(m, annotated_types.Le)]
        bounds += [m.lt - 1 for m in metadata if isinstance(m, annotated_types.Lt)]
        return ("int32" if bounds and min(bounds) <= INT32_MAX else "int64"), None
    if annotation is float:
        return "double", None
    if annotation is str or typing.get_origin(annotation) is Literal:
        return "string", None
    raise TypeError(f"{annotation}: no protobuf form (bool, int, float, str, Literal, models, tuples of them)")


_MESSAGE = re.compile(r"^message (\w+) \{(.*?)^\}", re.S | re.M)
_FIELD = re.compile(r"^\s+[\w. ]+?\s(\w+) = (\d+);", re.M)
_RESERVED = re.compile(r"^\s+reserved ([\d, ]+);", re.M)


def _committed_numbers(text: str) -> dict[str, tuple[dict[str, int], set[int]]]:
    """message -> ({field: number}, reserved numbers) in a committed generated .proto."""
    found = {}
    for name, body in _MESSAGE.findall(text):
        reserved = {int(n) for group in _RESERVED.findall(body) for n in group.split(",")}
        found[name] = ({field: int(number) for field, number in _FIELD.findall(body)}, reserved)
    return found
