"""Pulled JSONL bytes -> row dicts: what every reader of a dataset version needs, in one place."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson


class InvalidRow(ValueError):
    """A pulled row that is not a JSON object; the message names the version and the line."""


def parse_rows(ref: str, chunks: Iterable[bytes], limit: int | None = None) -> Iterator[dict]:
    """The JSON objects of JSONL bytes in any chunking (a line may span chunks), at most ``limit``."""
    if limit is not None and limit <= 0:
        return
    pending, line_no, count = b"", 0, 0
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            line_no += 1
            if line.strip():
                yield _row(ref, line_no, line)
                count += 1
                if count == limit:
                    return
    if pending.strip():
        yield _row(ref, line_no + 1, pending)


def _row(ref: str, line_no: int, line: bytes) -> dict:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidRow(f"{ref}: line {line_no}: not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise InvalidRow(f"{ref}: line {line_no}: expected a JSON object, got {type(row).__name__}")
    return row
