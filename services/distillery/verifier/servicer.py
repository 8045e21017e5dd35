"""gRPC ``VerifierService``: translates messages to :class:`Verifier` calls and back."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import grpc
from prometheus_client import Counter
from pydantic import ValidationError

import distillery
from distillery.v1 import verifier_pb2 as pb
from distillery.v1 import verifier_pb2_grpc as pb_grpc
from distillery.verifier import messages
from distillery.verifier.records import ThoughtRecord, Verdict
from distillery.verifier.verifier import Verifier

VERDICTS = Counter("distillery_verifier_verdicts_total", "Thoughts verified, by thought type and verdict status.",
                   ("thought_type", "status"))


def _reply(record: ThoughtRecord, verdict: Verdict, index: int, thought_id: str) -> pb.Verdict:
    VERDICTS.labels(record.thought_type.value, verdict.status.value).inc()
    return messages.verdict_to_pb(verdict, index, thought_id)


@dataclass(frozen=True)
class _Done:
    """The client's stream ended after ``submitted`` thoughts."""

    submitted: int


class VerifierServicer(pb_grpc.VerifierServiceServicer):
    def __init__(self, verifier: Verifier, stream_window: int | None = None) -> None:
        self.verifier = verifier
        # Thoughts of one stream verified at once; bounds memory and keeps flow control honest.
        self.stream_window = stream_window or 8 * verifier.config.workers

    def Verify(self, request: pb.VerifyRequest, context: grpc.ServicerContext) -> pb.VerifyResponse:
        grading = self._grading(request.grading if request.HasField("grading") else None, context)
        records = [self._record(thought, index, context) for index, thought in enumerate(request.thoughts)]
        verdicts = self.verifier.verify_many(records, grading)
        return pb.VerifyResponse(verdicts=[
            _reply(record, verdict, index, thought.id)
            for index, (thought, record, verdict) in enumerate(zip(request.thoughts, records, verdicts))
        ])

    def VerifyStream(self, request_iterator, context: grpc.ServicerContext):
        grading = self.verifier.config.grading
        finished: queue.Queue = queue.Queue()
        slots = threading.Semaphore(self.stream_window)

        def feed() -> None:
            submitted = 0
            try:
                for index, thought in enumerate(request_iterator):
                    record = self._record(thought, index, None)
                    slots.acquire()
                    future = self.verifier.submit(record, grading)
                    future.add_done_callback(lambda f, i=index, r=record, t=thought.id: finished.put((i, r, t, f)))
                    submitted += 1
            except Exception as exc:  # noqa: BLE001 -- delivered to the handler thread below
                finished.put(exc)
            finally:
                finished.put(_Done(submitted))

        threading.Thread(target=feed, name="verify-stream-feed", daemon=True).start()
        sent, total = 0, None  # total: known once the client's stream has ended
        while total is None or sent < total:
            item = finished.get()
            if isinstance(item, _Done):
                total = item.submitted
                continue
            if isinstance(item, ValueError):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(item))
            if isinstance(item, Exception):
                if context.is_active():
                    raise item
                return
            index, record, thought_id, future = item
            slots.release()
            sent += 1
            yield _reply(record, future.result(), index, thought_id)

    def GetInfo(self, request: pb.GetInfoRequest, context: grpc.ServicerContext) -> pb.VerifierInfo:
        report = self.verifier.isolation()
        config = self.verifier.config
        return pb.VerifierInfo(
            version=distillery.__version__,
            isolation=pb.IsolationLayers(
                network_namespace=report.network_namespace, user_namespace=report.user_namespace,
                seccomp=report.seccomp, landlock_abi=report.landlock_abi, privilege_drop=report.privilege_drop,
                rlimits=report.rlimits, ast_policy=report.ast_policy, missing=report.missing(), notes=report.notes,
            ),
            workers=config.workers, pot_timeout_s=config.pot_limits.timeout_s,
            eot_timeout_s=config.eot_limits.timeout_s, pot_memory_mb=config.pot_limits.memory_mb,
            allowed_imports=list(config.allowed_imports),
        )

    # -- helpers -----------------------------------------------------------------------
    @staticmethod
    def _record(thought: pb.Thought, index: int, context: grpc.ServicerContext | None):
        try:
            return messages.record_from_pb(thought)
        except (ValueError, ValidationError) as exc:
            message = f"thought {index} (id {thought.id!r}): {exc}"
            if context is None:
                raise ValueError(message) from None
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)

    def _grading(self, grading: pb.Grading | None, context: grpc.ServicerContext):
        try:
            return messages.grading_from_pb(grading, self.verifier.config.grading)
        except ValidationError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"grading: {exc}")
