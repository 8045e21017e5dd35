"""What a served student does for a request, apart from HTTP and gRPC: a solve -- the thoughts
from the model replicas, executed by the verifier, combined -- and a plain completion, whole or streamed.

A solve asks the model replicas for each thought -- the greedy one per method, and with
``samples`` K the K sampled ones per method as one request -- concurrently, so they share the
engine's batch; has the verifier run them all in one call (PoT in its sandbox, EoT through its
solver -- never here), and combines the answers. Greedy generation is idempotent (and any sample
is as good as another), so a call whose replica died under it is asked again of another replica
instead of failing the request; a stream, until its first text has gone to the caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.handle import DeploymentHandle

from distillery.serving.errors import ServiceUnavailable, ServingError
from distillery.serving.metrics import IngressMetrics
from distillery.serving.replica import CompletionResult
from distillery.serving.solving import SolveRequest, SolveResponse, ThoughtResult, combine
from distillery.verifier.records import ThoughtRecord

REPLICA_RETRY_S = 120.0  # how long a thought may wait for a replacement replica


class Solver:
    def __init__(self, model: DeploymentHandle, verifier, metrics: IngressMetrics, label: str) -> None:
        self.model = model
        self.verifier = verifier  # a VerifierClient: the sandbox is the verifier's, never this process's
        self.metrics = metrics
        self.label = label

    async def solve(self, body: SolveRequest) -> SolveResponse:
        started = time.perf_counter()
        greedy_jobs = [self.generate("thought", body.question, t) for t in body.methods]
        sampled_jobs = [self.generate("sampled_thoughts", body.question, t, body.samples, body.temperature)
                        for t in body.methods] if body.samples else []
        results = await asyncio.gather(*greedy_jobs, *sampled_jobs)
        # (type, sample, text): the greedy thoughts in the asked order, then each method's samples.
        generated = [(t, -1, text) for t, (text, _) in zip(body.methods, results)]
        for t, samples in zip(body.methods, results[len(body.methods):]):
            generated += [(t, j, text) for j, (text, _) in enumerate(samples)]
        records = [ThoughtRecord(id=i, thought_type=t, text=text) for i, (t, _, text) in enumerate(generated)]
        try:
            verdicts = await asyncio.to_thread(self.verifier.verify, records, None, 60)
        except grpc.RpcError as exc:
            raise ServiceUnavailable(f"verifier: {exc.code().name}: {exc.details()}") from None
        thoughts = [ThoughtResult(type=t, text=text, answer=v.answer, status=v.status.value, error=v.error, sample=j)
                    for (t, j, text), v in zip(generated, verdicts)]
        for thought in thoughts:
            self.metrics.thought(thought.type, thought.status)
        answer, method = combine(body.strategy, thoughts)
        return SolveResponse(answer=answer, method=method, thoughts=thoughts, model=self.label,
                             latency_ms=round((time.perf_counter() - started) * 1000, 1))

    async def complete(self, body, **prompt):
        """An OpenAI completion's generations; 400 when the prompt leaves no room to generate."""
        result = await self.generate("complete", body.sampling(), body.n, **prompt)
        _check(result)
        return result

    async def stream(self, body, **prompt) -> AsyncIterator[CompletionResult | list]:
        """An OpenAI completion as the replica generates it: its :class:`CompletionResult` head
        (400 when the prompt leaves no room to generate), then lists of ``Delta`` s. A replica
        lost before any delta came is asked again; after, the stream fails (503)."""
        deadline, delay = time.monotonic() + REPLICA_RETRY_S, 0.25
        head_sent = deltas_sent = False
        while True:
            response = self.model.options(stream=True).stream_complete.remote(body.sampling(), body.n, **prompt)
            ended = False
            try:
                async for item in response:
                    if isinstance(item, CompletionResult):
                        if not head_sent:
                            head_sent = True
                            yield _check(item)
                        continue  # a retried call's head: the caller has its own
                    deltas_sent = True
                    yield item
                ended = True
                return
            except (RayActorError, ActorUnavailableError) as exc:
                ended = True
                if deltas_sent:
                    raise ServiceUnavailable("the model replica was lost mid-stream") from None
                delay = await _backoff(exc, delay, deadline)
            finally:
                if not ended:  # a caller that stopped reading (gone, or another prompt failed): the engine stops too
                    response.cancel()

    async def generate(self, method: str, *args, **kwargs):
        """A call on a model replica; asked again if its replica dies mid-call.

        Serve's router drops a dead replica and, while none is up (a crash of the only one,
        scale from zero), holds the call until the replacement is ready; the deadline bounds that.
        """
        deadline, delay = time.monotonic() + REPLICA_RETRY_S, 0.25
        while True:
            try:
                return await getattr(self.model, method).remote(*args, **kwargs)
            except (RayActorError, ActorUnavailableError) as exc:
                delay = await _backoff(exc, delay, deadline)


async def _backoff(exc: Exception, delay: float, deadline: float) -> float:
    """Wait ``delay`` before asking again (and return the next delay), or 503 past the deadline."""
    if time.monotonic() + delay > deadline:
        raise ServiceUnavailable(f"model replicas unavailable: {type(exc).__name__}") from None
    await asyncio.sleep(delay)
    return min(delay * 2, 4.0)


def _check(result: CompletionResult) -> CompletionResult:
    if result.error:
        raise ServingError(400, result.error, "invalid_request_error", "context_length_exceeded")
    return result


async def merged(streams: list[AsyncIterator]) -> AsyncIterator[tuple[int, object]]:
    """``(stream index, item)`` from every stream as each produces it; the first failure ends all."""
    if len(streams) == 1:
        async for item in streams[0]:
            yield 0, item
        return
    queue: asyncio.Queue = asyncio.Queue()
    done = object()

    async def pump(i: int, stream: AsyncIterator) -> None:
        try:
            async for item in stream:
                await queue.put((i, item, None))
            await queue.put((i, done, None))
        except Exception as exc:  # handed to the consumer, which raises it
            await queue.put((i, done, exc))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        left = len(tasks)
        while left:
            i, item, exc = await queue.get()
            if exc is not None:
                raise exc
            if item is done:
                left -= 1
            else:
                yield i, item
    finally:
        for task in tasks:
            task.cancel()
