"""The thought record contract of DESIGN.md: what ``verify`` reads and what it adds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from distillery.core.outcome import Status
from distillery.verifier.numbers import number_or_none


class ThoughtType(str, Enum):
    COT = "cot"  # natural-language steps ending in "The answer is N."
    POT = "pot"  # straight-line Python leaving the result in `ans`
    EOT = "eot"  # a system of equations in `ans`, solved exactly

    def __str__(self) -> str:
        return self.value


class ThoughtRecord(BaseModel):
    """One thought to verify. Fields beyond these are carried through unchanged."""

    model_config = ConfigDict(extra="allow")

    id: str | int = Field(description="Caller's identifier, echoed back.")
    thought_type: ThoughtType
    text: str
    gold: float | None = Field(None, description="Gold answer: a number or a numeric string ('1,200', '$5').")

    @field_validator("gold", mode="before")
    @classmethod
    def _numeric_gold(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("gold must be a number, not a boolean")
        if isinstance(value, str):
            number = number_or_none(value)
            if number is None:
                raise ValueError(f"gold {value!r} is not a number")
            return number
        return value


class Verdict(BaseModel):
    """What verification adds to a record."""

    model_config = ConfigDict(frozen=True)

    answer: float | None
    status: Status
    correct: bool | None
    error: str | None

    def contract_fields(self) -> dict[str, Any]:
        return {"answer": self.answer, "status": self.status.value, "correct": self.correct, "error": self.error}


# Records in, one verdict each out, in input order: an in-process ``Verifier.verify_many`` or a
# remote ``VerifierClient.verify_many``. What the teacher, the evaluation and ``verify_file`` take;
# the verdicts may come lazily, so read them as they come (or ``list`` them).
VerifyMany = Callable[[Iterable[ThoughtRecord]], Iterable[Verdict]]
