"""The service side of the sandbox: a pool of worker processes and the public API.

    with Sandbox(SandboxConfig(workers=2)) as sandbox:
        result = sandbox.run_python("ans = 6 * 7")
        result.outcome  # Outcome(status=Status.OK, answer=42.0, error=None)

Thread-safe: any number of threads (gRPC handlers, Ray actor threads) may call
:meth:`Sandbox.run_python` / :meth:`Sandbox.call` concurrently; each call borrows one
idle worker. Timeouts are enforced by the worker killing the child, and, should a worker
itself stop answering, by this side killing and restarting the worker -- no signals in
the calling thread. A worker that dies (for any reason) is restarted before its next task.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import distillery
from distillery.core.outcome import Outcome, Status
from distillery.sandbox.config import ExecutionLimits, SandboxConfig
from distillery.sandbox.isolation import IsolationReport
from distillery.sandbox.protocol import ChannelClosed, ChannelTimeout, read_frame, write_frame
from distillery.sandbox.result import MalformedResult, check_result

log = logging.getLogger(__name__)

# Extra time the service waits beyond a task's own limit before declaring the worker hung.
WORKER_GRACE_S = 5.0
# For workers that run calls in-process, the service's deadline *is* the limit (plus transfer).
IN_PROCESS_GRACE_S = 0.25


class SandboxUnavailable(RuntimeError):
    """The sandbox could not start, or lacks an isolation layer the config requires."""


@dataclass(frozen=True)
class ExecutionResult:
    outcome: Outcome
    stdout: str = ""
    wall_ms: float = 0.0
    cpu_ms: float = 0.0


def _limits_message(limits: ExecutionLimits) -> dict:
    return {**limits.model_dump(), "cpu_seconds": limits.cpu_seconds}


def _worker_environment() -> dict[str, str]:
    # A minimal environment: no tokens, credentials or proxies leak into the workers.
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


# The worker runs isolated (-I: no working directory or script directory on sys.path, no
# PYTHON* variables, no user site-packages; -B: writes no bytecode). Its path is the
# interpreter's own, plus this very distillery package's root (appended, for a checkout that
# is not installed), never the directory the service was started from.
_WORKER_BOOTSTRAP = "import sys; sys.path.append(sys.argv[1]); from distillery.sandbox.worker import main; main()"


def _worker_command() -> list[str]:
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(distillery.__file__)))
    return [sys.executable, "-I", "-B", "-c", _WORKER_BOOTSTRAP, package_root]


def _own_scratch_dir(path: object) -> str | None:
    """The worker's scratch dir, if it is what a worker creates (a sandbox temp dir), else None."""
    if not isinstance(path, str):
        return None
    resolved = os.path.realpath(path)
    if not os.path.isabs(path) or not os.path.basename(resolved).startswith("distillery-sandbox-"):
        return None
    return resolved


class _WorkerProcess:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.process: subprocess.Popen | None = None
        self.isolation: IsolationReport | None = None
        self.scratch: str | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            _worker_command(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
            start_new_session=True, env=_worker_environment(),
        )
        settings = {"allowed_imports": list(self.config.allowed_imports),
                    "preload": list(self.config.preload), "ast_policy": self.config.ast_policy,
                    "fork_per_task": self.config.fork_per_task, "limits": _limits_message(self.config.limits)}
        try:
            write_frame(self.process.stdin.fileno(), settings)
            hello = read_frame(self.process.stdout.fileno(), time.monotonic() + self.config.start_timeout_s)
        except (ChannelClosed, ChannelTimeout, OSError) as exc:
            self.stop()
            raise SandboxUnavailable(f"sandbox worker failed to start: {exc}") from exc
        self.isolation = IsolationReport.from_dict(hello["isolation"])
        self.scratch = _own_scratch_dir(hello.get("scratch"))

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def request(self, task: dict, timeout_s: float) -> dict:
        if not self.alive:
            self.start()
        write_frame(self.process.stdin.fileno(), task)
        return read_frame(self.process.stdout.fileno(), time.monotonic() + timeout_s)

    def kill(self) -> None:
        """Stop a worker that may be busy: no grace, no waiting for it to finish a task."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self.stop()

    def stop(self) -> None:
        if self.process is None:
            return
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


class Sandbox:
    """Run untrusted Python programs (and trusted functions on untrusted data) in isolation."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._workers = [_WorkerProcess(self.config) for _ in range(self.config.workers)]
        self._idle: queue.Queue[_WorkerProcess] = queue.Queue()
        self._lock = threading.Lock()
        self._started = False
        self.restarts = 0

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> "Sandbox":
        with self._lock:
            if self._started:
                return self
            with ThreadPoolExecutor(max_workers=len(self._workers)) as pool:
                errors = [f.exception() for f in [pool.submit(w.start) for w in self._workers]]
            if any(errors):
                self._stop_all()
                raise next(e for e in errors if e)
            report = self.isolation
            missing_required = sorted(set(self.config.require) & set(report.missing()))
            if missing_required:
                self._stop_all()
                raise SandboxUnavailable(
                    f"required isolation layers unavailable: {', '.join(missing_required)} ({'; '.join(report.notes)})"
                )
            if report.missing():
                log.warning("sandbox running without: %s (%s)", ", ".join(report.missing()), "; ".join(report.notes))
            for worker in self._workers:
                self._idle.put(worker)
            self._started = True
        return self

    def close(self) -> None:
        with self._lock:
            self._stop_all()
            self._started = False
            self._idle = queue.Queue()

    def _stop_all(self) -> None:
        for worker in self._workers:
            worker.stop()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def isolation(self) -> IsolationReport:
        """Which layers are in force (the same for every worker)."""
        for worker in self._workers:
            if worker.isolation is not None:
                return worker.isolation
        raise SandboxUnavailable("sandbox not started")

    # -- execution ---------------------------------------------------------------------
    def run_python(self, source: str, *, result_name: str = "ans", fallback_function: str | None = "solution",
                   limits: ExecutionLimits | None = None) -> ExecutionResult:
        """Run an untrusted program; its result is the number in ``result_name`` (or ``fallback_function()``)."""
        task = {"kind": "python", "source": source, "result_name": result_name,
                "fallback_function": fallback_function, "allowed_imports": list(self.config.allowed_imports),
                "ast_policy": self.config.ast_policy}
        return self._run(task, limits or self.config.limits)

    def call(self, function: str, *args, limits: ExecutionLimits | None = None) -> ExecutionResult:
        """Run ``module:function(*args)`` (module listed in ``preload``, returning an Outcome) in a child."""
        return self._run({"kind": "call", "function": function, "args": list(args)}, limits or self.config.limits)

    def _run(self, task: dict, limits: ExecutionLimits) -> ExecutionResult:
        if not self._started:
            self.start()
        task["limits"] = _limits_message(limits)
        # A forking worker enforces the limit itself (and answers); an in-process one cannot,
        # so for it the deadline here is the limit, and passing it costs the worker.
        deadline_s = limits.timeout_s + (WORKER_GRACE_S if self.config.fork_per_task else IN_PROCESS_GRACE_S)
        worker = self._idle.get()
        try:
            reply = worker.request(task, deadline_s)
        except ChannelTimeout:
            worker.kill()
            if self.config.fork_per_task:
                self.restarts += 1
                log.warning("sandbox worker stopped answering; restarted it")
                return ExecutionResult(Outcome.fail(Status.TIMEOUT, "sandbox worker stopped answering"))
            return ExecutionResult(Outcome.fail(Status.TIMEOUT, f"exceeded the wall-clock limit of {limits.timeout_s} s"))
        except (ChannelClosed, OSError, SandboxUnavailable) as exc:
            # The worker itself died (the child it ran is gone with it): replace it.
            self.restarts += 1
            log.warning("sandbox worker failed (%s); restarting it", exc)
            worker.kill()
            return ExecutionResult(Outcome.fail(Status.EXEC_ERROR, f"sandbox worker failed: {exc}"))
        finally:
            self._idle.put(worker)
        # Checked again here: the worker is a separate process that runs untrusted code's
        # children; whatever it says, only a well-formed result becomes an Outcome.
        try:
            reply = check_result(reply, limits.max_output_bytes, timing=True)
        except MalformedResult as exc:
            log.warning("sandbox worker sent a malformed result: %s", exc)
            return ExecutionResult(Outcome.fail(Status.EXEC_ERROR, f"malformed result from the sandbox: {exc}"))
        outcome = Outcome(Status(reply["status"]), reply["answer"], reply["error"])
        return ExecutionResult(outcome, reply["stdout"], reply["wall_ms"], reply["cpu_ms"])
