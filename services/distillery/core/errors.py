"""One readable line for a pydantic validation failure, naming every bad field by its path:
``student.workers: Input should be greater than or equal to 1; name: Field required``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def field_errors(errors: Iterable[Mapping], whole: str = "value") -> str:
    """``errors`` as ``ValidationError.errors()`` gives them; ``whole`` names a model-level error.
    FastAPI's ``body`` / ``query`` location prefixes are dropped."""
    parts = []
    for error in errors:
        path = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{path or whole}: {message}")
    return "; ".join(parts)
