"""Isolated execution of untrusted Python (teacher and student programs) for every service.

Public API: :class:`Sandbox`, :class:`SandboxConfig`, :class:`ExecutionLimits`,
:class:`ExecutionResult`, :class:`IsolationReport`, :class:`SandboxUnavailable`.

Names are imported lazily: the worker process imports ``distillery.sandbox.worker``
through this package and must stay small (every task forks it, and fork time grows
with the worker's memory), so it must not pull in pydantic or the pool.
"""

import importlib

_EXPORTS = {
    "ExecutionLimits": "distillery.sandbox.config",
    "SandboxConfig": "distillery.sandbox.config",
    "IsolationReport": "distillery.sandbox.isolation",
    "ExecutionResult": "distillery.sandbox.pool",
    "Sandbox": "distillery.sandbox.pool",
    "SandboxUnavailable": "distillery.sandbox.pool",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'distillery.sandbox' has no attribute {name!r}")
