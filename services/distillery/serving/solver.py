"""What a served student does for a request, apart from HTTP and gRPC: a solve -- the thoughts
from the model replicas, executed by the verifier, combined -- and a plain completion.

A solve asks the model replicas for each thought -- the greedy one per method, and with
``samples`` K the K sampled ones per method as one job -- concurrently, so they batch; has the
verifier run them all in one call (PoT in its sandbox, EoT through its solver -- never here),
and combines the answers. Greedy generation is idempotent (and any sample is as good as another),
so a job whose replica died under it is asked again of another replica instead of failing the request.
"""

from __future__ import annotations

import asyncio
import time

import grpc
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.handle import DeploymentHandle

from distillery.serving.errors import ServiceUnavailable, ServingError
from distillery.serving.metrics import IngressMetrics
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
        if result.error:
            raise ServingError(400, result.error, "invalid_request_error", "context_length_exceeded")
        return result

    async def generate(self, method: str, *args, **kwargs):
        """A call on a model replica; asked again if its replica dies mid-call.

        Serve's router drops a dead replica and, while none is up (a crash of the only one,
        scale from zero), holds the call until the replacement is ready; the deadline bounds that.
        """
        deadline = time.monotonic() + REPLICA_RETRY_S
        delay = 0.25
        while True:
            try:
                return await getattr(self.model, method).remote(*args, **kwargs)
            except (RayActorError, ActorUnavailableError) as exc:
                if time.monotonic() + delay > deadline:
                    raise ServiceUnavailable(f"model replicas unavailable: {type(exc).__name__}") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4.0)
