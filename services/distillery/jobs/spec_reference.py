"""The job spec's reference page, generated from :class:`distillery.jobs.spec.JobSpec`.

    python -m distillery.jobs.spec_reference            # rewrite docs/job-spec.md
    python -m distillery.jobs.spec_reference --check    # exit 1 if it drifted from the model

Every field of every section with its type, default, bounds and help text, read from the
pydantic models the controller validates specs with, so the page cannot say anything the
code does not do (a test runs ``--check``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Literal, Union

import annotated_types
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from distillery.jobs.spec import JobSpec

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "job-spec.md"

_INTRO = """\
# Job spec reference

<!-- Generated from distillery.jobs.spec.JobSpec by `python -m distillery.jobs.spec_reference`:
     edit the models, not this page (a test checks that it is current). -->

A distillation job spec is YAML or JSON (`distillery run SPEC`, `distillery jobs submit SPEC`;
examples in `pipelines/`). Every field but `name` has a default; unknown fields are refused, and
every bad value is refused with its path (`student.workers: Input should be greater than or
equal to 1`). A section's fields are written under its name:

```yaml
name: my-job
teacher:
  thought_types: [pot]
  sampling: {seed: 7}
student:
  recipe: potd
  max_steps: 200
```

The `teacher:` section is the teacher service's own `TeacherGeneration`, and `student:` the
trainer's own `TrainerConfig` without `dataset` and `out` (the stages fill those in), so a
field means the same here, on the command line and in the services' protos.
"""


def render() -> str:
    """The whole page."""
    parts = [_INTRO]
    for path, model in _sections(JobSpec, ""):
        title = f"`{path}`" if path else "Top level"
        doc = (model.__doc__ or "").strip().split("\n\n")[0] if model is not JobSpec else ""
        parts.append(f"## {title}\n")
        if doc and not doc.startswith(("A base class", "Usage docs")):
            parts.append(_markdown(doc) + "\n")
        parts.append("| field | type | default | meaning |\n|---|---|---|---|")
        for name, field in model.model_fields.items():
            parts.append(_row(name, field, path))
        parts.append("")
    parts.append(_cross_field_rules())
    return "\n".join(parts).rstrip() + "\n"


def _sections(model: type[BaseModel], path: str) -> list[tuple[str, type[BaseModel]]]:
    """``model`` and every model under it, depth first, with their dotted paths."""
    found = [(path, model)]
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        if nested is not None:
            found += _sections(nested, f"{path}.{name}" if path else name)
    return found


def _model_of(annotation) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _markdown(text: str) -> str:
    """A docstring's reST roles and literals as Markdown."""
    return re.sub(r":\w+:`([^`]+)`", r"`\1`", " ".join(text.split())).replace("``", "`")


def _row(name: str, field: FieldInfo, path: str) -> str:
    aliases = ""
    if isinstance(field.validation_alias, AliasChoices):
        others = [a for a in field.validation_alias.choices if a != name]
        aliases = f" (also `{'`, `'.join(others)}`)" if others else ""
    meaning = _markdown(field.description or "")
    bounds = _bounds(field)
    if bounds:
        meaning = f"{meaning} ({bounds})" if meaning else bounds
    nested = _model_of(field.annotation)
    if nested is not None:
        meaning = (meaning + " " if meaning else "") + f"See `{path + '.' if path else ''}{name}`."
    return f"| `{name}`{aliases} | {_type(field.annotation)} | {_default(field)} | {meaning.replace('|', '/')} |"


def _type(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        shown = " or ".join(_type(a) for a in present)
        return f"{shown} or null" if len(present) < len(args) else shown
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        return f"list of {_type(args[0])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return {bool: "bool", int: "integer", float: "number", str: "string"}.get(annotation, str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section defaults)"
    return f"`{json.dumps(value.value if hasattr(value, 'value') else value)}`"


def _bounds(field: FieldInfo) -> str:
    words = []
    for item in field.metadata:
        for kind, sign in ((annotated_types.Ge, "≥"), (annotated_types.Gt, ">"), (annotated_types.Le, "≤"),
                           (annotated_types.Lt, "<")):
            if isinstance(item, kind):
                words.append(f"{sign} {getattr(item, next(iter(kind.__dataclass_fields__)))}")
        if isinstance(item, annotated_types.MinLen):
            words.append(f"at least {item.min_length} item{'s' if item.min_length != 1 else ''}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            words.append(f"matches `{pattern}`")
    return ", ".join(words)


def _cross_field_rules() -> str:
    return """## Rules across fields

Checked when the spec is submitted, each refused naming its field:

- `name`: lowercase letters, digits and `-`, at most 41 characters; it names the job's outputs.
- `teacher.backend` defaults to `openai` when `teacher.pool` or `teacher.endpoint` is given,
  else `annotations`. `openai` needs exactly one of `pool` and `endpoint` (and `model` with
  `endpoint`); `pool` and `endpoint` are refused for other backends; `hf` and `vllm` need `model`,
  an alias or a registry model (never a path).
- The `annotations` teacher's `model` is its format (`gold-annotations-v1`, `gold-annotations-v2`);
  it does not sample, so it records only `sampling.seed` (used by `variants`) and refuses a
  `temperature`, `top_p` or `max_tokens`.
- `teacher.contamination_guard: []` turns the guard off (recorded as `no_contamination_guard`).
- `student.epochs` and `student.max_steps` exclude each other; without either, 3 epochs.
- `student.thought_types` (or `recipe`) must be among the thoughts `teacher.thought_types` writes.
- References (`problems.dataset`, `student.base`, `teacher.model` for `hf`/`vllm`, `teacher.pool`,
  the guard's datasets) are resolved at submit with the submitting team's permissions.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/job-spec.md is not current")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = REFERENCE.exists() and REFERENCE.read_text() == text
        if not current:
            print(f"{REFERENCE} is stale: run `python -m distillery.jobs.spec_reference`", file=sys.stderr)
        return 0 if current else 1
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(text)
    print(REFERENCE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
