"""Backend by name: the one place that knows which backends exist.

LLM engines take tens of seconds to load, so the service keeps the last one it made
(:class:`BackendCache`) and reuses it for the next job with the same backend and model.
"""

from __future__ import annotations

import importlib
import threading

from distillery.teacher.backends.base import TeacherBackend
from distillery.teacher.config import TeacherJobConfig


class BackendUnavailable(ValueError):
    pass


# Backends that load a model into this process, imported only when asked for (torch, vLLM).
LOCAL_ENGINES = {
    "hf": ("distillery.teacher.backends.hf", "HFBackend"),
    "vllm": ("distillery.teacher.backends.vllm_engine", "VLLMBackend"),
}


def make_backend(config: TeacherJobConfig) -> TeacherBackend:
    if config.backend == "annotations":
        from distillery.teacher.backends.annotations import AnnotationsBackend

        return AnnotationsBackend()
    if config.backend in LOCAL_ENGINES:
        if not config.model:
            raise BackendUnavailable(f"backend {config.backend!r} needs a model (an HF directory or smollm2-135m-instruct)")
        module_name, class_name = LOCAL_ENGINES[config.backend]
        try:
            engine_class = getattr(importlib.import_module(module_name), class_name)
        except ImportError as exc:
            raise BackendUnavailable(
                f"backend {config.backend!r} needs the teacher extra (pip install 'distillery[teacher]'): {exc}")
        return engine_class(config.model)
    if config.backend == "openai":
        if not config.endpoint or not config.model:
            raise BackendUnavailable("backend 'openai' needs --endpoint URL and --model NAME")
        from distillery.teacher.backends.openai_http import OpenAIBackend

        return OpenAIBackend(config.endpoint, config.model)
    raise BackendUnavailable(f"unknown backend {config.backend!r}")


class BackendCache:
    """Keeps the most recent engine-backed backend alive between jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._backend: TeacherBackend | None = None

    def get(self, config: TeacherJobConfig) -> TeacherBackend:
        key = (config.backend, config.model, config.endpoint)
        with self._lock:
            if key != self._key:
                if self._backend is not None:
                    self._backend.close()
                self._backend, self._key = _Serialised(make_backend(config)), key
            return self._backend


class _Serialised:
    """One generate() at a time: engines are not thread-safe, jobs may run concurrently."""

    def __init__(self, backend: TeacherBackend) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self.name, self.model = backend.name, backend.model

    def generate(self, requests, sampling):
        with self._lock:
            return self._backend.generate(requests, sampling)

    def close(self) -> None:
        self._backend.close()
