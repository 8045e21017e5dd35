"""Translation between protobuf messages (distillery.v1) and the verifier's Python types."""

from __future__ import annotations

from distillery.core.outcome import Status
from distillery.v1 import verifier_pb2 as pb
from distillery.verifier.grade import GradingConfig
from distillery.verifier.records import ThoughtRecord, ThoughtType, Verdict


def thought_type_to_pb(thought_type: ThoughtType) -> int:
    return pb.ThoughtType.Value(f"THOUGHT_TYPE_{thought_type.value.upper()}")


def status_to_pb(status: Status) -> int:
    return pb.VerdictStatus.Value(f"VERDICT_STATUS_{status.value.upper()}")


def status_from_pb(value: int) -> Status:
    return Status(pb.VerdictStatus.Name(value).removeprefix("VERDICT_STATUS_").lower())


def record_to_pb(record: ThoughtRecord) -> pb.Thought:
    thought = pb.Thought(id=str(record.id), thought_type=thought_type_to_pb(record.thought_type), text=record.text)
    if record.gold is not None:
        thought.gold = record.gold
    return thought


def record_from_pb(thought: pb.Thought) -> ThoughtRecord:
    """Raises ``ValueError`` naming the field when the thought is unusable."""
    if thought.thought_type == pb.THOUGHT_TYPE_UNSPECIFIED:
        raise ValueError("thought_type is required (cot, pot or eot)")
    name = pb.ThoughtType.Name(thought.thought_type).removeprefix("THOUGHT_TYPE_").lower()
    return ThoughtRecord(id=thought.id, thought_type=ThoughtType(name), text=thought.text,
                         gold=thought.gold if thought.HasField("gold") else None)


def verdict_to_pb(verdict: Verdict, index: int, thought_id: str) -> pb.Verdict:
    message = pb.Verdict(index=index, id=thought_id, status=status_to_pb(verdict.status), error=verdict.error or "")
    if verdict.answer is not None:
        message.answer = verdict.answer
    if verdict.correct is not None:
        message.correct = verdict.correct
    return message


def verdict_from_pb(message: pb.Verdict) -> Verdict:
    return Verdict(
        answer=message.answer if message.HasField("answer") else None,
        status=status_from_pb(message.status),
        correct=message.correct if message.HasField("correct") else None,
        error=message.error or None,
    )


def grading_from_pb(request_grading: pb.Grading | None, default: GradingConfig) -> GradingConfig:
    if request_grading is None:
        return default
    return GradingConfig(abs_tol=request_grading.abs_tol or default.abs_tol, rel_tol=request_grading.rel_tol)


def grading_to_pb(grading: GradingConfig) -> pb.Grading:
    return pb.Grading(abs_tol=grading.abs_tol, rel_tol=grading.rel_tol)
