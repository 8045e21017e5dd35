"""Guards inside Ray Serve's own proxies, which every team's deployments share.

Serve's HTTP proxy answers ``/-/routes`` itself, with every application's name and route, to
anyone; its gRPC proxy does the same for ``ray.serve.RayServeAPIService/ListApplications``.
Neither is our application, so FastAPI settings cannot hide them. Ray 2.x offers two hooks into
the proxies, both used here:

- HTTP: ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` names a function whose Starlette
  middlewares wrap the proxy's ASGI app (outermost, so they see ``/-/routes`` first).
  :class:`ProxyGuard` answers ``/-/routes`` (and any other ``/-/`` path but the health check)
  with 404, answers a request without a bearer token with 401 before any application is looked
  up (so an anonymous caller cannot tell a deployed name from a free one), and refuses a body
  above :data:`BODY_BYTES_CEILING` -- by its Content-Length, or, streamed, by cutting it off --
  so no body of any size is buffered by the proxy for a replica to refuse later.
- gRPC: the ``grpc_servicer_functions`` get the proxy's server. :func:`add_student_service`
  registers ``StudentService`` as before and then registers ``ListApplications`` as a
  *registered* method, which gRPC looks up before Serve's generic handler, answering
  PERMISSION_DENIED. ``Healthz`` stays Serve's.

Both are read by the proxy actor when it starts; :func:`proxy_env` gives the environment the
Serve controller passes to the proxies it creates (``serve.start(controller_options=...)``).
The ceiling on a gRPC message (``RAY_SERVE_GRPC_MAX_MESSAGE_SIZE``, 2 GiB by default) is set
the same way. Per-deployment limits, lower, are the ingress's (``Limits``).
"""

from __future__ import annotations

import json
import logging

import grpc

from distillery.serving.config import BODY_BYTES_CEILING

CALLBACK = "distillery.serving.proxy:middlewares"
SERVICER = "distillery.serving.proxy.add_student_service"
GRPC_MESSAGE_CEILING = 4 * 1024 * 1024  # gRPC's own default; a Solve request is a question of a few KiB
HEALTH_PATH = "/-/healthz"  # probes (KubeRay's, load balancers') carry no token
SERVE_API = "ray.serve.RayServeAPIService"

logger = logging.getLogger(__name__)


def proxy_env() -> dict[str, str]:
    """Environment for Serve's controller, inherited by the proxy actors it starts."""
    return {"RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": CALLBACK,
            "RAY_SERVE_GRPC_MAX_MESSAGE_SIZE": str(GRPC_MESSAGE_CEILING)}


def _has_bearer(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and bool(token.strip())
    return False


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reply(send, status: int, message: str, kind: str, extra: list[tuple[bytes, bytes]] = (),
                 code: str | None = None) -> None:
    """OpenAI's error shape, as the ingress answers (``openai_api.error_body``)."""
    body = json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


class ProxyGuard:
    """Pure ASGI middleware around Serve's HTTP proxy (see the module's docstring)."""

    def __init__(self, app, max_body_bytes: int = BODY_BYTES_CEILING) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path == HEALTH_PATH:
            return await self.app(scope, receive, send)
        if path.startswith("/-/"):  # /-/routes: every team's deployment names; not offered
            return await _reply(send, 404, f"{path} is not offered; `distillery serve ls` lists your team's "
                                           "deployments", "invalid_request_error")
        headers = scope.get("headers") or []
        if not _has_bearer(headers):
            return await _reply(send, 401, "missing bearer token", "authentication_error",
                                [(b"www-authenticate", b"Bearer")], "invalid_api_key")
        length = _content_length(headers)
        if length is not None and length > self.max_body_bytes:
            return await _reply(send, 413, f"request body is {length} bytes; at most {self.max_body_bytes} "
                                           "(the proxy's ceiling)", "invalid_request_error")
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # A streamed body past the ceiling: the application sees the client gone.
                    return {"type": "http.disconnect"}
            return message

        return await self.app(scope, counted_receive, send)


def middlewares() -> list:
    """The ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` callback: run in each HTTP proxy actor."""
    from starlette.middleware import Middleware

    return [Middleware(ProxyGuard)]


async def _not_listed(request, context) -> None:
    await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                        "ListApplications is not offered; `distillery serve ls` lists your team's deployments")


def add_student_service(servicer, server) -> None:
    """A ``grpc_servicer_functions`` entry: ``StudentService``, and Serve's listing withheld."""
    from distillery.v1.student_pb2_grpc import add_StudentServiceServicer_to_server

    add_StudentServiceServicer_to_server(servicer, server)
    passthrough = getattr(server, "add_passthrough_service", None)
    register = getattr(server, "add_registered_method_handlers", None)
    if passthrough is None or register is None:  # not Serve's proxy server (or another Ray)
        logger.warning("cannot withhold %s/ListApplications on this gRPC server", SERVE_API)
        return
    # Passthrough: the handler runs in the proxy as given, instead of being routed to a replica.
    passthrough(SERVE_API)
    register(SERVE_API, {"ListApplications": grpc.unary_unary_rpc_method_handler(_not_listed)})
