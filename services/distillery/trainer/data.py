"""A worker's share of a thought dataset, read as a stream: no worker holds the whole set.

Pure: JSONL lines in, training rows out. Rows are dealt round-robin over the workers after
filtering, so every worker gets the same number of rows (give or take one) whatever the mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

REQUIRED = ("question", "thought_type", "text")


class InvalidRow(ValueError):
    """A dataset row the trainer cannot use; the message names the row."""


def parse_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, dict]]:
    """``(line number, row)`` for JSONL bytes in any chunking (a line may span chunks)."""
    pending = b""
    number = 0
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            number += 1
            if line.strip():
                yield number, _parse(number, line)
    if pending.strip():
        yield number + 1, _parse(number + 1, pending)


def _parse(number: int, line: bytes) -> dict:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidRow(f"line {number}: not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise InvalidRow(f"line {number}: expected a JSON object")
    return row


def training_rows(lines: Iterable[tuple[int, dict]], thought_types: tuple[str, ...], rank: int = 0,
                  world_size: int = 1) -> Iterator[dict]:
    """This worker's rows: verified (``correct`` not false), of the wanted types, every world_size-th."""
    kept = 0
    for number, row in lines:
        missing = [f for f in REQUIRED if not isinstance(row.get(f), str)]
        if missing:
            raise InvalidRow(f"line {number}: missing or non-string field(s) {', '.join(missing)}")
        if row.get("correct") is False or row["thought_type"] not in thought_types or not row["text"].strip():
            continue
        if kept % world_size == rank:
            yield row
        kept += 1
