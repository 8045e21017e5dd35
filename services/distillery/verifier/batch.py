"""``verify`` over a JSONL file: validate, verify in order, write atomically, summarise."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from distillery.core.jsonl import InvalidLine, atomic_writer, dumps, read_objects
from distillery.verifier.records import ThoughtRecord, Verdict, VerifyMany
from distillery.core.errors import field_errors


@dataclass
class Summary:
    total: int = 0
    invalid_lines: list[InvalidLine] = field(default_factory=list)
    by_status: collections.Counter = field(default_factory=collections.Counter)
    graded: collections.Counter = field(default_factory=collections.Counter)  # per thought type
    correct: collections.Counter = field(default_factory=collections.Counter)

    def add(self, record: ThoughtRecord, verdict: Verdict) -> None:
        self.total += 1
        self.by_status[verdict.status.value] += 1
        if verdict.correct is not None:
            self.graded[record.thought_type.value] += 1
            self.correct[record.thought_type.value] += int(verdict.correct)

    @property
    def accuracy(self) -> float | None:
        graded = sum(self.graded.values())
        return sum(self.correct.values()) / graded if graded else None

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "invalid_lines": len(self.invalid_lines),
            "by_status": dict(sorted(self.by_status.items())),
            "graded": sum(self.graded.values()),
            "correct": sum(self.correct.values()),
            "accuracy": self.accuracy,
            "by_thought_type": {
                t: {"graded": self.graded[t], "correct": self.correct[t],
                    "accuracy": self.correct[t] / self.graded[t] if self.graded[t] else None}
                for t in sorted(self.graded)
            },
        }


def parse_record(raw: dict, path: str, line_no: int) -> ThoughtRecord:
    try:
        return ThoughtRecord.model_validate(raw)
    except ValidationError as exc:
        raise InvalidLine(path, line_no, field_errors(exc.errors(), whole="record")) from None


def scan(path: str | Path) -> tuple[int, list[InvalidLine]]:
    """First pass: count the records and collect every invalid line (nothing kept in memory)."""
    count, invalid = 0, []
    for line_no, value in read_objects(path):
        if isinstance(value, InvalidLine):
            invalid.append(value)
            continue
        try:
            parse_record(value, str(path), line_no)
            count += 1
        except InvalidLine as exc:
            invalid.append(exc)
    return count, invalid


def verify_file(input_path: str | Path, output_path: str | Path, verify_many: VerifyMany,
                skip_invalid: bool = False, on_progress: Callable[[int], None] | None = None) -> Summary:
    """Verify every valid record of ``input_path`` into ``output_path``.

    Raises the first :class:`InvalidLine` (and writes nothing) unless ``skip_invalid``.
    """
    _, invalid = scan(input_path)
    if invalid and not skip_invalid:
        raise invalid[0]
    summary = Summary(invalid_lines=invalid)
    pairs: collections.deque[tuple[dict, ThoughtRecord]] = collections.deque()

    def records() -> Iterator[ThoughtRecord]:
        for line_no, raw in read_objects(input_path):
            if isinstance(raw, InvalidLine):
                continue
            try:
                record = parse_record(raw, str(input_path), line_no)
            except InvalidLine:
                continue
            pairs.append((raw, record))
            yield record

    with atomic_writer(output_path) as out:
        for verdict in verify_many(records()):
            raw, record = pairs.popleft()
            summary.add(record, verdict)
            out.write(dumps({**raw, **verdict.contract_fields()}) + "\n")
            if on_progress:
                on_progress(1)
    return summary
