"""The front of a served student: HTTP (FastAPI) and gRPC on Ray Serve's proxies.

Routes (under the application's prefix ``/NAME``): ``POST /v1/solve``, the OpenAI-compatible
``POST /v1/completions``, ``POST /v1/chat/completions`` and ``GET /v1/models``; gRPC
``distillery.v1.StudentService/Solve``. The OpenAI routes stream with ``stream: true``
(server-sent events, the team's slot held until the stream ends). Every call carries a team token (``Authorization:
Bearer``), checked before the body is read: 401 / UNAUTHENTICATED without a valid one, 403 /
PERMISSION_DENIED for a team that cannot see the model. Errors use OpenAI's shape
``{"error": {"message", "type", "code"}}`` on every route.

One request must not take the replica down, nor one team the deployment (``Limits``): a team
over ``team_max_concurrent`` requests in flight gets 429 (keyed by the authenticated team) before
its body is read; a body over ``max_body_bytes`` gets 413 on its Content-Length, or as soon as
the streamed bytes pass it, before it is parsed; counts and lengths over their limits get 400
from validation, before anything is generated. No schema or docs are served (``openapi.json``
would describe the deployment to anyone who asks).

This module only routes, authorizes and translates: the work is :class:`~distillery.serving.solver.Solver`'s
(thoughts from the model replicas, executed by the verifier, combined), the failures and their
HTTP / gRPC statuses are :mod:`distillery.serving.errors`'.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack

import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import ClientDisconnect

from distillery.core.auth import bearer_token
from distillery.core.errors import field_errors
from distillery.serving.access import Decision, ModelAccess, RegistryUnavailable
from distillery.serving.config import ServeConfig
from distillery.serving.errors import ServiceUnavailable, ServingError
from distillery.serving.limits import BodyCounter, TeamGate, check_declared_length, validation_context
from distillery.serving.metrics import IngressMetrics
from distillery.serving.openai_api import (SSE_DONE, ChatRequest, ChunkWriter, CompletionRequest, chat_response,
                                           completion_response, error_body, models_response, sse)
from distillery.serving.solver import Solver, merged
from distillery.serving.solving import SolveRequest
from distillery.student.models import ALIASES
from distillery.v1 import student_pb2 as pb

class Streamed:
    """A route's answer sent as server-sent events rather than one JSON body."""

    def __init__(self, events: AsyncIterator[bytes]) -> None:
        self.events = events


class HeldStream:
    """The events of a streamed reply, calling ``ended`` once when they end, fail, are cancelled
    (the client went away) -- or are dropped unread: a team's slot is never kept by a dead stream."""

    def __init__(self, events: AsyncIterator[bytes], ended: Callable[[], None]) -> None:
        self._events, self._ended = events, ended

    def __aiter__(self) -> "HeldStream":
        return self

    async def __anext__(self) -> bytes:
        try:
            return await anext(self._events)
        except BaseException:  # StopAsyncIteration included
            self.close()
            raise

    def close(self) -> None:
        ended, self._ended = self._ended, None
        if ended is not None:
            ended()

    def __del__(self) -> None:
        self.close()


api = FastAPI(title="Distillery student", docs_url=None, redoc_url=None, openapi_url=None)


@serve.deployment(name="StudentAPI", ray_actor_options={"num_cpus": 0})
@serve.ingress(api)
class StudentAPI:
    def __init__(self, model: DeploymentHandle, config: ServeConfig) -> None:
        from distillery.verifier.client import VerifierClient

        self.config = config
        self.access = ModelAccess(config.registry, None if config.model in ALIASES else config.model)
        self.metrics = IngressMetrics()
        self.solver = Solver(model, VerifierClient(config.verifier, config.token.get_secret_value()), self.metrics,
                             config.model)
        self.created = int(time.time())
        self.teams = TeamGate(config.limits.team_max_concurrent)
        self.context = validation_context(config.limits)

    def info(self) -> dict:
        """What ``distillery serve ls`` shows (the token stays here)."""
        return self.config.model_dump(mode="json", exclude={"token", "registry", "verifier"})

    # --- HTTP ---------------------------------------------------------------------------------

    @api.post("/v1/solve")
    async def solve_http(self, request: Request) -> JSONResponse:
        async def run(body: SolveRequest) -> dict:
            return (await self.solver.solve(body)).model_dump()
        return await self._http("solve", request, SolveRequest, run)

    @api.post("/v1/completions")
    async def completions(self, request: Request) -> Response:
        async def run(body: CompletionRequest) -> dict | Streamed:
            self._check_model_name(body.model)
            if body.stream:
                return await self._stream(body, [{"prompt": p} for p in body.prompts()], chat=False)
            results = await asyncio.gather(*(self.solver.complete(body, prompt=p) for p in body.prompts()))
            completions = [c for r in results for c in r.completions]
            return completion_response(self._label, completions, sum(r.prompt_tokens for r in results))
        return await self._http("completions", request, CompletionRequest, run)

    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Response:
        async def run(body: ChatRequest) -> dict | Streamed:
            self._check_model_name(body.model)
            messages = [m.model_dump() for m in body.messages]
            if body.stream:
                return await self._stream(body, [{"messages": messages}], chat=True)
            result = await self.solver.complete(body, messages=messages)
            return chat_response(self._label, result.completions, result.prompt_tokens)
        return await self._http("chat", request, ChatRequest, run)

    @api.get("/v1/models")
    async def models(self, request: Request) -> JSONResponse:
        async def run(_: None) -> dict:
            return models_response(self._label, self.config.team, self.created)
        return await self._http("models", request, None, run)

    async def _http(self, route: str, request: Request, schema: type[pydantic.BaseModel] | None,
                    run: Callable[..., Awaitable[dict | Streamed]]) -> JSONResponse | StreamingResponse:
        started = time.perf_counter()
        try:
            with ExitStack() as admitted:
                team = await self._authorize(bearer_token([("authorization",
                                                            request.headers.get("authorization", ""))]))
                if schema is None:  # /v1/models: nothing to read, nothing to generate
                    status, payload = 200, await run(None)
                else:
                    admitted.enter_context(self.teams.admit(team))
                    raw = await self._read_body(request)
                    try:
                        body = schema.model_validate_json(raw, context=self.context)
                    except pydantic.ValidationError as exc:
                        raise ServingError(400, field_errors(exc.errors(), whole='request'),
                                           "invalid_request_error") from None
                    del raw  # only the parsed request is kept while it generates
                    status, payload = 200, await run(body)
                if isinstance(payload, Streamed):  # the team's slot goes with the stream, until it ends
                    def ended(release=admitted.pop_all()) -> None:
                        release.close()
                        self.metrics.request(route, 200, (time.perf_counter() - started) * 1000)
                    return StreamingResponse(HeldStream(payload.events, ended), media_type="text/event-stream",
                                             headers={"Cache-Control": "no-cache"})
        except ServingError as exc:
            status, payload = exc.status, error_body(str(exc), exc.kind, exc.code)
        self.metrics.request(route, status, (time.perf_counter() - started) * 1000)
        headers = {401: {"WWW-Authenticate": "Bearer"}, 429: {"Retry-After": "1"}}.get(status)
        return JSONResponse(payload, status_code=status, headers=headers)

    async def _stream(self, body, prompts: list[dict], chat: bool) -> Streamed:
        """Every prompt's stream, their heads read first: a prompt too long for the model is
        answered with a 400 before any event is sent."""
        streams = [self.solver.stream(body, **prompt) for prompt in prompts]
        heads = await asyncio.gather(*(anext(stream) for stream in streams), return_exceptions=True)
        failed = next((head for head in heads if isinstance(head, BaseException)), None)
        if failed is not None:
            for stream in streams:  # the others' generations stop in the engine
                await stream.aclose()
            raise failed
        writer = ChunkWriter(self._label, chat)
        usage = body.stream_options is not None and body.stream_options.include_usage

        async def events() -> AsyncIterator[bytes]:
            completion_tokens = 0
            try:
                async for i, deltas in merged(streams):
                    for delta in deltas:
                        completion_tokens += delta.tokens
                        yield writer.delta(i * body.n + delta.index, delta.text, delta.finish_reason)
                if usage:
                    yield writer.usage(sum(h.prompt_tokens for h in heads), completion_tokens)
            except ServingError as exc:  # the status line has gone: the failure is the last event
                yield sse(error_body(str(exc), exc.kind, exc.code))
            yield SSE_DONE
        return Streamed(events())

    async def _read_body(self, request: Request) -> bytes:
        """The body, refused (413) on its Content-Length, else as soon as the streamed bytes pass
        ``max_body_bytes`` -- never held whole when too large."""
        limit = self.config.limits.max_body_bytes
        check_declared_length(request.headers.get("content-length"), limit)
        counter, chunks = BodyCounter(limit), []
        try:
            async for chunk in request.stream():
                counter.add(chunk)
                chunks.append(chunk)
        except ClientDisconnect:  # the client, or the proxy's ceiling, ended the body
            raise ServingError(400, "the request body was not received whole", "invalid_request_error") from None
        return b"".join(chunks)

    # --- gRPC (method named as the RPC; Ray Serve's gRPC proxy calls it) ----------------------

    async def Solve(self, request: pb.SolveRequest, grpc_context) -> pb.SolveResponse:  # noqa: N802
        started = time.perf_counter()
        status = 200
        try:
            team = await self._authorize(bearer_token(grpc_context.invocation_metadata()))
            with self.teams.admit(team):
                fields = {"question": request.question, "strategy": request.strategy or "vote",
                          "samples": request.samples}
                if request.methods:
                    fields["methods"] = list(request.methods)
                if request.HasField("temperature"):
                    fields["temperature"] = request.temperature
                try:
                    body = SolveRequest.model_validate(fields, context=self.context)
                except pydantic.ValidationError as exc:
                    raise ServingError(400, field_errors(exc.errors(), whole='request'),
                                       "invalid_request_error") from None
                reply = await self.solver.solve(body)
            return pb.SolveResponse(answer=reply.answer, method=reply.method or "", latency_ms=reply.latency_ms,
                                    model=reply.model, thoughts=[
                                        pb.ThoughtResult(type=t.type, text=t.text, answer=t.answer, status=t.status,
                                                         error=t.error or "", sample=t.sample)
                                        for t in reply.thoughts])
        except ServingError as exc:
            status = exc.status
            grpc_context.set_code(exc.grpc_code)
            grpc_context.set_details(str(exc))
            return pb.SolveResponse()
        finally:
            self.metrics.request("grpc_solve", status, (time.perf_counter() - started) * 1000)

    # --- the work ------------------------------------------------------------------------------

    @property
    def _label(self) -> str:
        return self.config.model

    async def _authorize(self, token: str | None) -> str:
        """The caller's team (the key of its limits), or 401 / 403."""
        try:
            caller = await asyncio.to_thread(self.access.check, token)
        except RegistryUnavailable as exc:
            raise ServiceUnavailable(str(exc)) from None
        decision = caller.decision
        if decision is Decision.UNAUTHENTICATED:
            message = "missing bearer token" if not token else "invalid bearer token"
            raise ServingError(401, message, "authentication_error", "invalid_api_key")
        if decision is Decision.FORBIDDEN:
            raise ServingError(403, f"your team may not use {self.config.model}", "permission_error")
        return caller.team

    def _check_model_name(self, model: str | None) -> None:
        if model not in (None, "", self._label, self.config.name):
            raise ServingError(404, f"model {model!r} is not served here; this endpoint serves {self._label!r}",
                               "invalid_request_error", "model_not_found")
