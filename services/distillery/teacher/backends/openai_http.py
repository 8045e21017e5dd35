"""OpenAI-compatible HTTP teacher: vLLM's server, hosted APIs, the platform's own student server.

Bounded concurrency, retries with exponential backoff on 429 / 5xx / connection errors
(honouring ``Retry-After``), a requests-per-second limit, and the API key from a secret
(``OPENAI_API_KEY`` or the file ``OPENAI_API_KEY_FILE`` names) -- never from the job spec.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from distillery.teacher.backends.base import Generation, GenerationRequest
from distillery.teacher.config import Sampling
from distillery.teacher.prompts import STOP, chat_prompt
from distillery.core.thought_text import clean_thought

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


def api_key() -> str | None:
    path = os.environ.get("OPENAI_API_KEY_FILE")
    if path:
        with open(path) as handle:
            return handle.read().strip()
    return os.environ.get("OPENAI_API_KEY")


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


class OpenAIBackend:
    name = "openai"

    def __init__(self, endpoint: str, model: str, concurrency: int = 8, max_retries: int = 5,
                 requests_per_second: float = 0.0, timeout_s: float = 300.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        if not self.endpoint.endswith("/v1"):
            self.endpoint += "/v1"
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.limiter = _RateLimiter(requests_per_second)
        self.timeout_s = timeout_s
        self.key = api_key()

    def generate(self, requests: list[GenerationRequest], sampling: Sampling) -> list[Generation]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda item: self._one(item[1], sampling, item[0]), enumerate(requests)))

    def _one(self, request: GenerationRequest, sampling: Sampling, index: int) -> Generation:
        body = {"model": self.model, "messages": chat_prompt(request.problem["question"], request.thought_type),
                "n": request.samples, "temperature": sampling.temperature, "top_p": sampling.top_p,
                "max_tokens": sampling.max_tokens, "seed": sampling.seed + index, "stop": STOP}
        try:
            reply = self._post("/chat/completions", body)
        except RuntimeError as exc:
            return Generation(texts=[], errors=[str(exc)])
        texts = [clean_thought(choice["message"]["content"] or "", request.thought_type)
                 for choice in reply.get("choices", [])]
        return Generation(texts=texts, output_tokens=int(reply.get("usage", {}).get("completion_tokens", 0)))

    def _post(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        delay = 0.5
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            request = urllib.request.Request(self.endpoint + path, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUSES or attempt == self.max_retries:
                    detail = exc.read()[:300].decode(errors="replace")
                    raise RuntimeError(f"{self.endpoint}{path}: HTTP {exc.code}: {detail}") from None
                retry_after = exc.headers.get("Retry-After")
                time.sleep(float(retry_after) if retry_after and retry_after.isdigit() else delay)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.max_retries:
                    raise RuntimeError(f"{self.endpoint}{path}: {exc}") from None
                time.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise RuntimeError("unreachable")

    def close(self) -> None:
        pass
