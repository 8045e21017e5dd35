"""gRPC ``VerifierService``: translates messages to :class:`Verifier` calls and back.

Callers share one sandbox pool, so every call is bounded: per call (thoughts in a request or a
stream, characters in a thought: INVALID_ARGUMENT) and per team -- a caller's token hash, as the
verifier may not know team names -- (concurrent calls, thoughts in flight: RESOURCE_EXHAUSTED).
Each refusal names the limit, and refuses nothing but that call.
"""

from __future__ import annotations

import collections
import queue
import threading
from dataclasses import dataclass

import grpc
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

import distillery
from distillery.core.auth import bearer_token, hash_token
from distillery.sandbox.isolation import LAYERS
from distillery.v1 import verifier_pb2 as pb
from distillery.v1 import verifier_pb2_grpc as pb_grpc
from distillery.verifier import messages
from distillery.verifier.config import VerifierConfig
from distillery.verifier.records import ThoughtRecord, Verdict
from distillery.verifier.verifier import Verifier

VERDICTS = Counter("distillery_verifier_verdicts_total", "Thoughts verified, by thought type and verdict status.",
                   ("thought_type", "status"))
REFUSED = Counter("distillery_verifier_refused_total", "Calls refused for a per-call or per-team limit, by limit.",
                  ("limit",))
ISOLATION = Gauge("distillery_verifier_isolation_layer",
                  "1 for each isolation layer's state: present, missing (not required) or overridden (required, "
                  "missing, and allowed by an operator's --allow-missing-isolation).", ("layer", "state"))
STATES = ("present", "missing", "overridden")


def export_isolation(config: VerifierConfig, missing: list[str]) -> dict[str, str]:
    """Set the isolation gauge from a report's missing layers; returns each layer's state."""
    states = config.isolation_states(missing)
    for layer in LAYERS:
        for state in STATES:
            ISOLATION.labels(layer, state).set(1 if states[layer] == state else 0)
    return states


def _reply(record: ThoughtRecord, verdict: Verdict, index: int, thought_id: str) -> pb.Verdict:
    VERDICTS.labels(record.thought_type.value, verdict.status.value).inc()
    return messages.verdict_to_pb(verdict, index, thought_id)


@dataclass(frozen=True)
class _Done:
    """The client's stream ended after ``submitted`` thoughts."""

    submitted: int


class LimitExceeded(Exception):
    """A call over a limit: ``code`` and a message naming the limit."""

    def __init__(self, code: grpc.StatusCode, limit: str, message: str) -> None:
        super().__init__(message)
        self.code, self.limit = code, limit


class TeamLimits:
    """Concurrent calls and in-flight thoughts per team (caller token hash); 0 means unlimited."""

    def __init__(self, max_calls: int, max_inflight: int) -> None:
        self.max_calls, self.max_inflight = max_calls, max_inflight
        self._calls: collections.Counter[str] = collections.Counter()
        self._inflight: collections.Counter[str] = collections.Counter()
        self._changed = threading.Condition()

    def enter_call(self, team: str) -> None:
        with self._changed:
            if self.max_calls and self._calls[team] >= self.max_calls:
                raise LimitExceeded(grpc.StatusCode.RESOURCE_EXHAUSTED, "max_calls_per_team",
                                    f"this team already has {self._calls[team]} Verify/VerifyStream calls in "
                                    f"progress (max_calls_per_team={self.max_calls}); retry when one ends")
            self._calls[team] += 1

    def leave_call(self, team: str) -> None:
        with self._changed:
            self._calls[team] -= 1
            if not self._calls[team]:
                del self._calls[team]

    def admit(self, team: str, count: int) -> None:
        """Admit ``count`` thoughts at once or refuse them all."""
        with self._changed:
            if self.max_inflight and self._inflight[team] + count > self.max_inflight:
                raise LimitExceeded(grpc.StatusCode.RESOURCE_EXHAUSTED, "max_inflight_thoughts_per_team",
                                    f"this team has {self._inflight[team]} thoughts in flight and this call adds "
                                    f"{count} (max_inflight_thoughts_per_team={self.max_inflight}); retry later")
            self._inflight[team] += count

    def wait_admit(self, team: str, is_active) -> bool:
        """Admit one thought when the team is under its limit (a stream's backpressure); False if
        the call ended while waiting."""
        with self._changed:
            while self.max_inflight and self._inflight[team] >= self.max_inflight:
                if not is_active():
                    return False
                self._changed.wait(timeout=0.5)
            self._inflight[team] += 1
            return True

    def release(self, team: str, count: int = 1) -> None:
        with self._changed:
            self._inflight[team] -= count
            if not self._inflight[team]:
                del self._inflight[team]
            self._changed.notify_all()

    def in_flight(self, team: str) -> int:
        with self._changed:
            return self._inflight[team]


def team_of(context: grpc.ServicerContext) -> str:
    """The caller's team key: its token's hash (authentication already checked the token); callers
    without a token (an open server on loopback) share one key."""
    token = bearer_token(context.invocation_metadata())
    return hash_token(token) if token else "anonymous"


class VerifierServicer(pb_grpc.VerifierServiceServicer):
    def __init__(self, verifier: Verifier, stream_window: int | None = None) -> None:
        self.verifier = verifier
        config = verifier.config
        # Thoughts of one stream verified at once; bounds memory and keeps flow control honest.
        self.stream_window = stream_window or 8 * config.workers
        if config.max_inflight_thoughts_per_team:
            self.stream_window = min(self.stream_window, config.max_inflight_thoughts_per_team)
        self.teams = TeamLimits(config.max_calls_per_team, config.max_inflight_thoughts_per_team)

    def _refuse(self, context: grpc.ServicerContext, exc: LimitExceeded):
        REFUSED.labels(exc.limit).inc()
        context.abort(exc.code, str(exc))

    def Verify(self, request: pb.VerifyRequest, context: grpc.ServicerContext) -> pb.VerifyResponse:
        config, team = self.verifier.config, team_of(context)
        count = len(request.thoughts)
        if config.max_thoughts_per_call and count > config.max_thoughts_per_call:
            self._refuse(context, LimitExceeded(
                grpc.StatusCode.INVALID_ARGUMENT, "max_thoughts_per_call",
                f"thoughts: {count} in one Verify, over max_thoughts_per_call={config.max_thoughts_per_call} "
                "(split the batch, or use VerifyStream)"))
        grading = self._grading(request.grading if request.HasField("grading") else None, context)
        records = [self._record(thought, index, context) for index, thought in enumerate(request.thoughts)]
        try:
            self.teams.enter_call(team)
        except LimitExceeded as exc:
            self._refuse(context, exc)
        try:
            try:
                self.teams.admit(team, count)
            except LimitExceeded as exc:
                self._refuse(context, exc)
            try:
                verdicts = list(self.verifier.verify_many(records, grading))
            finally:
                self.teams.release(team, count)
        finally:
            self.teams.leave_call(team)
        return pb.VerifyResponse(verdicts=[
            _reply(record, verdict, index, thought.id)
            for index, (thought, record, verdict) in enumerate(zip(request.thoughts, records, verdicts))
        ])

    def VerifyStream(self, request_iterator, context: grpc.ServicerContext):
        team = team_of(context)
        try:
            self.teams.enter_call(team)
        except LimitExceeded as exc:
            self._refuse(context, exc)
        try:
            yield from self._verify_stream(request_iterator, context, team)
        finally:
            self.teams.leave_call(team)

    def _verify_stream(self, request_iterator, context: grpc.ServicerContext, team: str):
        config = self.verifier.config
        grading = config.grading
        finished: queue.Queue = queue.Queue()
        slots = threading.Semaphore(self.stream_window)

        def done(future, index, record, thought_id) -> None:
            # Here, not where the verdict is sent: a cancelled stream still gives its thoughts back.
            self.teams.release(team)
            finished.put((index, record, thought_id, future))

        def feed() -> None:
            submitted = 0
            try:
                for index, thought in enumerate(request_iterator):
                    if config.max_thoughts_per_stream and index >= config.max_thoughts_per_stream:
                        raise LimitExceeded(
                            grpc.StatusCode.INVALID_ARGUMENT, "max_thoughts_per_stream",
                            f"thought {index}: over max_thoughts_per_stream={config.max_thoughts_per_stream} "
                            "(verdicts for the earlier thoughts were sent; open a new stream for the rest)")
                    record = self._record(thought, index, None)
                    slots.acquire()
                    if not self.teams.wait_admit(team, context.is_active):
                        break
                    future = self.verifier.submit(record, grading)
                    future.add_done_callback(lambda f, i=index, r=record, t=thought.id: done(f, i, r, t))
                    submitted += 1
            except Exception as exc:  # noqa: BLE001 -- delivered to the handler thread below
                finished.put(exc)
            finally:
                finished.put(_Done(submitted))

        threading.Thread(target=feed, name="verify-stream-feed", daemon=True).start()
        sent, total = 0, None  # total: known once the client's stream has ended
        over: LimitExceeded | None = None  # reported once the thoughts before it have their verdicts
        while total is None or sent < total:
            item = finished.get()
            if isinstance(item, _Done):
                total = item.submitted
                continue
            if isinstance(item, LimitExceeded):
                over = item
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
        if over is not None:
            self._refuse(context, over)

    def GetInfo(self, request: pb.GetInfoRequest, context: grpc.ServicerContext) -> pb.VerifierInfo:
        report = self.verifier.isolation()
        config = self.verifier.config
        states = config.isolation_states(report.missing())
        overridden = [layer for layer in LAYERS if states[layer] == "overridden"]
        return pb.VerifierInfo(
            version=distillery.__version__,
            isolation=pb.IsolationLayers(
                network_namespace=report.network_namespace, user_namespace=report.user_namespace,
                seccomp=report.seccomp, landlock_abi=report.landlock_abi, privilege_drop=report.privilege_drop,
                rlimits=report.rlimits, ast_policy=report.ast_policy, missing=report.missing(), notes=report.notes,
                required_layers=list(config.require_isolation), overridden_layers=overridden,
                degraded=bool(overridden),
            ),
            workers=config.workers, pot_timeout_s=config.pot_limits.timeout_s,
            eot_timeout_s=config.eot_limits.timeout_s, pot_memory_mb=config.pot_limits.memory_mb,
            allowed_imports=list(config.allowed_imports),
            max_thoughts_per_call=config.max_thoughts_per_call, max_thoughts_per_stream=config.max_thoughts_per_stream,
            max_thought_chars=config.max_thought_chars,
            max_inflight_thoughts_per_team=config.max_inflight_thoughts_per_team,
            max_calls_per_team=config.max_calls_per_team,
        )

    # -- helpers -----------------------------------------------------------------------
    def _record(self, thought: pb.Thought, index: int, context: grpc.ServicerContext | None):
        limit = self.verifier.config.max_thought_chars
        try:
            if limit and len(thought.text) > limit:
                REFUSED.labels("max_thought_chars").inc()
                raise ValueError(f"text: {len(thought.text)} characters, over max_thought_chars={limit}")
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
