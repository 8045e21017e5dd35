"""Rows in, compressed checksummed shards out -- and back. Pure: no storage calls here.

Rows are stored byte-for-byte as pushed (a pull returns exactly what was pushed), gzip-
compressed in shards of bounded size so that neither side ever holds more than one shard.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from distillery.registry.errors import DataLoss, InvalidArgument

MAX_ROW_BYTES = 16 * 1024 * 1024
BATCH_ROWS = 256
PROBLEM_FIELDS = ("id", "question", "answer")


def joined(lines: list[bytes]) -> bytes:
    """A batch of lines as stored: each followed by a newline."""
    return b"\n".join(lines) + b"\n"


def split_lines(chunks: Iterable[bytes]) -> Iterator[list[bytes]]:
    """Batches of whole lines (without the newline) from byte chunks split anywhere.

    Batches of up to ``BATCH_ROWS``, so the per-row work downstream stays in tight loops and
    a shard overshoots its target by at most one batch.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        if b"\n" not in chunk:
            if len(pending) > MAX_ROW_BYTES:
                raise InvalidArgument(f"a row is longer than {MAX_ROW_BYTES} bytes")
            continue
        *lines, pending = pending.split(b"\n")
        for start in range(0, len(lines), BATCH_ROWS):
            yield lines[start:start + BATCH_ROWS]
    if pending:
        yield [pending]


@dataclass
class RowStats:
    """Counts the manifest records, checked as rows stream by."""

    kind: str
    rows: int = 0
    bytes: int = 0
    by_thought_type: collections.Counter = field(default_factory=collections.Counter)
    by_status: collections.Counter = field(default_factory=collections.Counter)
    content: "hashlib._Hash" = field(default_factory=hashlib.sha256)

    def add(self, lines: list[bytes], data: bytes) -> None:
        """Validate a batch of rows (numbered from ``self.rows + 1``) and count them.

        ``data`` is the batch as stored, ``b"\\n".join(lines) + b"\\n"`` (joined once by the caller).
        """
        thought_types, statuses = self.by_thought_type, self.by_status
        problems = self.kind == "problems"
        number = self.rows
        for line in lines:
            number += 1
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InvalidArgument(f"row {number}: not valid JSON ({exc})") from None
            if type(row) is not dict:
                raise InvalidArgument(f"row {number}: expected a JSON object, got {type(row).__name__}")
            if problems:
                _check_problem(row, number)
            value = row.get("thought_type")
            if type(value) is str:
                thought_types[value] += 1
            value = row.get("status")
            if type(value) is str:
                statuses[value] += 1
        self.rows = number
        self.bytes += len(data)
        self.content.update(data)


def _check_problem(row: dict, number: int) -> None:
    missing = [f for f in PROBLEM_FIELDS if f not in row]
    if missing:
        raise InvalidArgument(f"row {number}: a problems row needs {', '.join(missing)}")
    answer = row["answer"]
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not math.isfinite(answer):
        raise InvalidArgument(f"row {number}: answer must be a finite number, got {answer!r}")
    if not isinstance(row["question"], str):
        raise InvalidArgument(f"row {number}: question must be a string")


@dataclass
class SealedShard:
    data: bytes  # compressed
    rows: int
    bytes: int  # uncompressed
    sha256: str


class ShardBuilder:
    """Accumulates lines into one gzip member; ``seal()`` when ``full``."""

    def __init__(self, target_bytes: int, level: int = 1) -> None:
        self.target_bytes = target_bytes
        self.level = level
        self._reset()

    def _reset(self) -> None:
        self._compressor = zlib.compressobj(self.level, zlib.DEFLATED, 31)  # 31: gzip container
        self._parts: list[bytes] = []
        self.rows = 0
        self.bytes = 0

    def add(self, data: bytes, rows: int) -> None:
        """Append ``rows`` whole lines, ``data`` ending with a newline."""
        self._parts.append(self._compressor.compress(data))
        self.rows += rows
        self.bytes += len(data)

    @property
    def full(self) -> bool:
        return self.bytes >= self.target_bytes

    def seal(self) -> SealedShard:
        self._parts.append(self._compressor.flush())
        data = b"".join(self._parts)
        sealed = SealedShard(data, self.rows, self.bytes, hashlib.sha256(data).hexdigest())
        self._reset()
        return sealed


def open_shard(data: bytes, expected_sha256: str, expected_rows: int, where: str) -> bytes:
    """Verify a stored shard and return its JSONL bytes; ``DataLoss`` on any mismatch."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise DataLoss(f"{where} is corrupt: sha256 {actual[:12]}… does not match the manifest's {expected_sha256[:12]}…")
    try:
        payload = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataLoss(f"{where} cannot be decompressed: {exc}") from None
    rows = payload.count(b"\n")
    if rows != expected_rows:
        raise DataLoss(f"{where} holds {rows} rows, the manifest says {expected_rows}")
    return payload


def line_aligned_chunks(payload: bytes, size: int) -> Iterator[bytes]:
    """Slices of about ``size`` bytes that end on a newline (rows are never split)."""
    start = 0
    while start < len(payload):
        end = payload.rfind(b"\n", start, start + size) + 1 if start + size < len(payload) else len(payload)
        if end <= start:  # one row longer than size: send it whole
            end = payload.index(b"\n", start) + 1
        yield payload[start:end]
        start = end
