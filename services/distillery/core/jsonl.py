"""JSONL input that names the bad line, and output that appears whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class InvalidLine(ValueError):
    def __init__(self, path: str, line_no: int, reason: str) -> None:
        super().__init__(f"{path}:{line_no}: {reason}")
        self.line_no = line_no
        self.reason = reason


def read_objects(path: str | Path) -> Iterator[tuple[int, dict | InvalidLine]]:
    """``(line_no, object)`` per non-blank line, or ``(line_no, InvalidLine)`` for a bad one."""
    with open(path, encoding="utf-8", errors="strict") as handle:
        line_no = 0
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError as exc:
                yield line_no + 1, InvalidLine(str(path), line_no + 1, f"not UTF-8 ({exc.reason})")
                return
            if not line:
                return
            line_no += 1
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield line_no, InvalidLine(str(path), line_no, f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield line_no, InvalidLine(str(path), line_no, f"expected a JSON object, got {type(value).__name__}")
                continue
            yield line_no, value


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[IO[str]]:
    """Write to a temp file beside ``path`` and rename it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def dumps(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False)
