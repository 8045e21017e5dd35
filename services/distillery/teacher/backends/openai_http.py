"""OpenAI-compatible HTTP teacher: vLLM's server, hosted APIs, the platform's own student server.

Bounded concurrency, retries with exponential backoff on 429 / 5xx / connection errors
(honouring ``Retry-After``), a requests-per-second limit. Where it may connect and which key it
sends are decided by :mod:`distillery.teacher.pools` (the operator's pools, or a team's own
endpoint with the team's key); this module only enforces it on the wire:

- errors name the status and a fixed reason, never the upstream's body or the URL: a team must
  not be able to read an internal service's reply through the teacher (SSRF);
- redirects are not followed (a 30x is an error), so the key never travels to a second host and
  an allowed endpoint cannot bounce the request into the cluster;
- no proxy from the environment; ``address_check`` vets the connected peer's address (after DNS,
  so rebinding cannot slip past the policy);
- a reply longer than ``max_response_bytes`` or not shaped like a completion is an error.
"""

from __future__ import annotations

import copy
import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from distillery.student.thought_text import STOP, clean_thought
from distillery.teacher.backends.base import Generation, GenerationRequest
from distillery.teacher.config import Sampling
from distillery.teacher.errors import EndpointRefused
from distillery.teacher.prompts import chat_prompt

LOG = logging.getLogger(__name__)
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}
# What an error may say about an HTTP status: a fixed phrase, never the body.
REASONS = {400: "the request was rejected", 401: "the key was refused", 403: "the key was refused",
           404: "no such model or path", 408: "request timeout", 413: "the request was too large",
           422: "the request was rejected", 429: "rate limited"}


class UpstreamError(RuntimeError):
    """A generation request failed; the message is safe to show the caller."""


class _RateLimiter:
    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.next_slot = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
        time.sleep(max(0.0, slot - now))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 30x as an HTTPError


def _checked_connection(base: type, address_check: Callable[[str], None]) -> type:
    class Checked(base):
        def connect(self) -> None:
            super().connect()
            try:
                address_check(self.sock.getpeername()[0])
            except BaseException:
                self.close()
                raise
    return Checked


def _opener(address_check: Callable[[str], None] | None) -> urllib.request.OpenerDirector:
    handlers: list = [urllib.request.ProxyHandler({}), _NoRedirects()]
    if address_check is not None:
        http_connection = _checked_connection(http.client.HTTPConnection, address_check)
        https_connection = _checked_connection(http.client.HTTPSConnection, address_check)

        class HTTP(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(http_connection, req)

        class HTTPS(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(https_connection, req, context=self._context)

        handlers += [HTTP(), HTTPS()]
    return urllib.request.build_opener(*handlers)


class OpenAIBackend:
    name = "openai"

    def __init__(self, endpoint: str, model: str, api_key: Callable[[], str | None] = lambda: None,
                 label: str = "endpoint", address_check: Callable[[str], None] | None = None,
                 concurrency: int = 8, max_retries: int = 5, requests_per_second: float = 0.0,
                 timeout_s: float = 300.0, max_response_bytes: int = 16 << 20) -> None:
        self.endpoint = endpoint.rstrip("/")
        if not self.endpoint.endswith("/v1"):
            self.endpoint += "/v1"
        self.model = model
        self.label = label  # how errors name the target: `pool 'vllm'` or `endpoint`, never its URL
        self.api_key = api_key
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.limiter = _RateLimiter(requests_per_second)
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self.opener = _opener(address_check)

    def for_model(self, model: str) -> "OpenAIBackend":
        """The same pool (rate limiter, opener) for another of its models."""
        if model == self.model:
            return self
        view = copy.copy(self)
        view.model = model
        return view

    def generate(self, requests: list[GenerationRequest], sampling: Sampling) -> list[Generation]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda item: self._one(item[1], sampling, item[0]), enumerate(requests)))

    def _one(self, request: GenerationRequest, sampling: Sampling, index: int) -> Generation:
        body = {"model": self.model, "messages": chat_prompt(request.problem["question"], request.thought_type),
                "n": request.samples, "temperature": sampling.temperature, "top_p": sampling.top_p,
                "max_tokens": sampling.max_tokens, "seed": sampling.seed + index, "stop": list(STOP)}
        try:
            reply = self._post("/chat/completions", body)
            texts = [clean_thought(choice["message"]["content"] or "", request.thought_type)
                     for choice in reply["choices"]]
            if not all(isinstance(t, str) for t in texts):
                raise TypeError
            tokens = int((reply.get("usage") or {}).get("completion_tokens", 0))
        except UpstreamError as exc:
            return Generation(texts=[], errors=[str(exc)], failed=True)
        except (KeyError, TypeError, ValueError, AttributeError):
            return Generation(texts=[], errors=[f"{self.label}: the reply is not a chat completion"], failed=True)
        return Generation(texts=texts, output_tokens=tokens)

    def _post(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        delay = 0.5
        for attempt in range(self.max_retries + 1):
            try:
                key = self.api_key()  # per request: a rotated Secret applies at once
            except RuntimeError as exc:  # the operator's problem: details in the server's log only
                LOG.error("%s", exc)
                raise UpstreamError(f"{self.label}: its key is not available") from None
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self.limiter.wait()
            request = urllib.request.Request(self.endpoint + path, data=data, headers=headers, method="POST")
            try:
                with self.opener.open(request, timeout=self.timeout_s) as response:
                    raw = response.read(self.max_response_bytes + 1)
                if len(raw) > self.max_response_bytes:
                    raise UpstreamError(f"{self.label}: the reply exceeds {self.max_response_bytes} bytes")
                try:
                    return json.loads(raw)
                except ValueError:
                    raise UpstreamError(f"{self.label}: the reply is not JSON") from None
            except urllib.error.HTTPError as exc:
                exc.close()  # the body is never read: nothing of it can reach an error text
                if exc.code not in RETRY_STATUSES or attempt == self.max_retries:
                    raise UpstreamError(f"{self.label}: HTTP {exc.code} ({_reason(exc.code)})") from None
                retry_after = exc.headers.get("Retry-After")
                time.sleep(min(float(retry_after), 60.0) if retry_after and retry_after.isdigit() else delay)
            except EndpointRefused as exc:  # the address policy refused the connected peer
                raise UpstreamError(str(exc)) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
                if attempt == self.max_retries:
                    reason = "timed out" if isinstance(getattr(exc, "reason", exc), TimeoutError) else "unreachable"
                    raise UpstreamError(f"{self.label}: {reason}") from None
                time.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise UpstreamError(f"{self.label}: unreachable")

    def close(self) -> None:
        pass


def _reason(code: int) -> str:
    if 300 <= code < 400:
        return "redirects are not followed"
    if code >= 500:
        return "upstream error"
    return REASONS.get(code, "refused")
