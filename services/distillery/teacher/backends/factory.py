"""Backend by name: the one place that knows which backends exist.

LLM engines take tens of seconds to load, so the service keeps the last one it made
(:class:`BackendCache`) and reuses it for the next job with the same backend and model.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

from distillery.teacher.backends.base import TeacherBackend
from distillery.teacher.config import TeacherJobConfig
from distillery.teacher.errors import BackendUnavailable


# Backends that load a model into this process, imported only when asked for (torch, vLLM).
LOCAL_ENGINES = {
    "hf": ("distillery.teacher.backends.hf", "HFBackend"),
    "vllm": ("distillery.teacher.backends.vllm_engine", "VLLMBackend"),
}


def make_backend(config: TeacherJobConfig, model_dir: Path | None = None) -> TeacherBackend:
    """``model_dir``: the checkpoint the service resolved for ``config.model`` (alias or registry
    model, access checked); without it only an alias is loaded, never a path."""
    if config.backend == "annotations":
        from distillery.teacher.backends.annotations import AnnotationsBackend

        return AnnotationsBackend(config.model)  # the config recorded the default format
    if config.backend in LOCAL_ENGINES:
        module_name, class_name = LOCAL_ENGINES[config.backend]
        try:
            engine_class = getattr(importlib.import_module(module_name), class_name)
        except ImportError as exc:
            raise BackendUnavailable(
                f"backend {config.backend!r} needs the teacher extra (pip install 'distillery[teacher]'): {exc}")
        return engine_class(config.model, path=model_dir)
    if config.backend == "openai":
        # Where an HTTP teacher runs and with which key is the operator's call, not the job's:
        # the service builds it from its pools (distillery.teacher.pools.http_backend).
        raise BackendUnavailable("backend 'openai' is built from the service's pools, not here")
    raise BackendUnavailable(f"unknown backend {config.backend!r}")


class BackendCache:
    """Keeps the most recent engine-backed backend alive between jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._backend: TeacherBackend | None = None

    def get(self, config: TeacherJobConfig, model_dir: Path | None = None) -> TeacherBackend:
        # Keyed by the resolved checkpoint too: a name re-pointed to new content loads it anew.
        key = (config.backend, config.model, str(model_dir) if model_dir else None)
        with self._lock:
            if key != self._key:
                if self._backend is not None:
                    self._backend.close()
                self._backend, self._key = _Serialised(make_backend(config, model_dir)), key
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
