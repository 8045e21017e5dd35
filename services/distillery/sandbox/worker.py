"""The sandbox worker: a fork server that runs each task in a fresh, hardened child.

Started by :class:`distillery.sandbox.pool.Sandbox` as ``python -m distillery.sandbox.worker``.
It imports the allowed modules once (so children start warm), enters an empty network
namespace, probes which per-child layers the machine supports, then serves tasks read
from stdin, one at a time, answering on stdout. Each task runs in a child forked for it
alone, so no program sees another's state; the worker enforces the wall-clock limit and
turns how the child ended (result, signal, exit code) into a status.
"""

from __future__ import annotations

import importlib
import os
import select
import shutil
import signal
import tempfile
import time

from distillery.sandbox import isolation, landlock, policy, runner, seccomp
from distillery.sandbox.protocol import ChannelClosed, read_frame, write_all, write_frame
from distillery.sandbox.result import MAX_ERROR_CHARS, MalformedResult, decode_child_result, encode_child_result

MAX_RESULT_BYTES = 17 * 1024 * 1024
# Pre-serialised, so it can be sent even when the child has no memory left to build JSON.
_OUT_OF_MEMORY_RESULT = {"status": "resource_limit", "answer": None, "error": "MemoryError", "stdout": ""}
_OUT_OF_MEMORY = encode_child_result(_OUT_OF_MEMORY_RESULT)


class Worker:
    def __init__(self, settings: dict, proto_out: int) -> None:
        self.settings = settings
        self.proto_out = proto_out
        self.preloaded = tuple(settings.get("preload", ()))
        self.report = isolation.IsolationReport(ast_policy=settings.get("ast_policy", True))
        self.scratch = tempfile.mkdtemp(prefix="distillery-sandbox-")
        os.chmod(self.scratch, 0o711)  # children (maybe `nobody`) traverse to their own dir only
        self.baseline_as = 0
        self.landlock_ruleset: int | None = None
        self.fork_per_task = settings.get("fork_per_task", True)

    def prepare(self) -> None:
        for name in (*self.settings.get("allowed_imports", ()), *self.preloaded):
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                self.report.notes.append(f"could not preload {name}: {exc}")
                continue
            # Children may not be able to read the file system (Landlock, `nobody`): a
            # preloaded module can load its lazily imported parts here, once.
            warm_up = getattr(module, "sandbox_warmup", None)
            if name in self.preloaded and callable(warm_up):
                warm_up()
        isolation.enter_network_namespace(self.report)
        isolation.readable_roots()  # computed once, inherited by every child
        isolation.probe_child_layers(self.report, self.scratch)
        if self.report.landlock:
            # Writable: this worker's scratch dir, which holds only the running task's temp dir.
            self.landlock_ruleset = landlock.create_ruleset(self.scratch, isolation.readable_roots())
        if self.report.seccomp:
            seccomp.prepare()
        # The wrapped modules and guarded builtins programs get, built once here so every
        # child inherits them; then warm the paths a task takes (parse, check, compile, exec).
        allowed = list(self.settings.get("allowed_imports", ()))
        policy.environment(allowed)
        runner.run_python({"source": "ans = 1", "result_name": "ans", "allowed_imports": allowed,
                           "limits": {"max_output_bytes": 0}})
        self.baseline_as = isolation.address_space_bytes()
        if not self.fork_per_task:
            if self.report.privilege_drop:
                os.chown(self.scratch, isolation.NOBODY, isolation.NOBODY)
            isolation.harden_worker(self.report, self.scratch, self.settings["limits"], self.baseline_as,
                                    self.landlock_ruleset)

    def serve(self, proto_in: int) -> None:
        # The scratch dir is named so the service can remove it: a worker hardened in-process
        # (fork_per_task off) cannot delete its own directory once Landlock is in force.
        write_frame(self.proto_out, {"ready": True, "pid": os.getpid(), "scratch": self.scratch,
                                     "isolation": self.report.to_dict()})
        while True:
            try:
                task = read_frame(proto_in)
            except ChannelClosed:
                return
            write_frame(self.proto_out, self.execute(task))

    def execute(self, task: dict) -> dict:
        if not self.fork_per_task:
            return self._execute_in_process(task)
        limits = task["limits"]
        temp_dir = tempfile.mkdtemp(dir=self.scratch)
        if self.report.privilege_drop:
            os.chown(temp_dir, isolation.NOBODY, isolation.NOBODY)
        read_fd, write_fd = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            self._child(task, temp_dir, read_fd, write_fd)  # never returns
        os.close(write_fd)
        try:
            data, timed_out = self._collect(pid, read_fd, started + limits["timeout_s"])
            _, wait_status, usage = os.wait4(pid, 0)
        finally:
            os.close(read_fd)
            shutil.rmtree(temp_dir, ignore_errors=True)
        result = self._classify(data, timed_out, wait_status, usage, limits)
        result["wall_ms"] = round((time.monotonic() - started) * 1000, 3)
        result["cpu_ms"] = round((usage.ru_utime + usage.ru_stime) * 1000, 3)
        return result

    def _execute_in_process(self, task: dict) -> dict:
        if task["kind"] != "call":  # untrusted programs always get a fresh child
            return {**_failure("unsafe", "this sandbox runs trusted functions only (fork_per_task is off)"),
                    "wall_ms": 0.0, "cpu_ms": 0.0}
        started = time.monotonic()
        cpu_started = time.process_time()
        try:
            result = runner.run_call(task, self.preloaded)
        except MemoryError:
            result = dict(_OUT_OF_MEMORY_RESULT)
        if isinstance(result.get("error"), str):
            result["error"] = result["error"][:MAX_ERROR_CHARS]
        result["wall_ms"] = round((time.monotonic() - started) * 1000, 3)
        result["cpu_ms"] = round((time.process_time() - cpu_started) * 1000, 3)
        return result

    def _child(self, task: dict, temp_dir: str, read_fd: int, write_fd: int) -> None:
        """Run one task and report it as exactly one result frame; never returns."""
        code = 1
        try:
            try:
                os.close(read_fd)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                keep = sorted(fd for fd in (write_fd, self.landlock_ruleset) if fd is not None)
                low = 3
                for fd in keep:
                    os.closerange(low, fd)
                    low = fd + 1
                os.closerange(low, 65536)
                isolation.harden_child(self.report, temp_dir, task["limits"], self.baseline_as,
                                       self.landlock_ruleset)
            except BaseException as exc:  # noqa: BLE001
                write_all(write_fd, encode_child_result(_failure("exec_error", f"sandbox setup failed: {exc}")))
                return
            try:
                if task["kind"] == "python":
                    result = runner.run_python(task)
                else:
                    result = runner.run_call(task, self.preloaded)
                if isinstance(result.get("error"), str):
                    result["error"] = result["error"][:MAX_ERROR_CHARS]
                frame = encode_child_result(result)
            except MemoryError:
                frame = _OUT_OF_MEMORY
            except BaseException as exc:  # noqa: BLE001 -- a bug here must not unwind into the worker's code
                frame = encode_child_result(_failure("exec_error", f"sandbox runner failed: {type(exc).__name__}"))
            write_all(write_fd, frame)
            code = 0
        finally:
            os._exit(code)  # whatever happened, this forked child never returns into the worker

    @staticmethod
    def _collect(pid: int, read_fd: int, deadline: float) -> tuple[bytes, bool]:
        """Read the child's result until it exits, killing it at the deadline."""
        pidfd = os.pidfd_open(pid)
        data = bytearray()
        eof = exited = False
        try:
            while not (eof and exited):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _kill_group(pid)
                    return bytes(data), True
                watch = ([] if eof else [read_fd]) + ([] if exited else [pidfd])
                ready = select.select(watch, [], [], remaining)[0]
                if read_fd in ready:
                    chunk = os.read(read_fd, 1 << 16)
                    if not chunk:
                        eof = True
                    elif len(data) < MAX_RESULT_BYTES:
                        data += chunk
                if pidfd in ready:
                    exited = True
            return bytes(data), False
        finally:
            os.close(pidfd)

    @staticmethod
    def _classify(data: bytes, timed_out: bool, wait_status: int, usage, limits: dict) -> dict:
        def fail(status: str, error: str) -> dict:
            return {"status": status, "answer": None, "error": error, "stdout": ""}

        if timed_out:
            return fail("timeout", f"exceeded the wall-clock limit of {limits['timeout_s']} s")
        if os.WIFSIGNALED(wait_status):
            sig = os.WTERMSIG(wait_status)
            cpu = usage.ru_utime + usage.ru_stime
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits["cpu_seconds"]):
                return fail("timeout", f"exceeded the CPU-time limit of {limits['cpu_seconds']} s")
            if sig == signal.SIGSYS:
                return fail("unsafe", "stopped by the sandbox: forbidden system call")
            if sig == signal.SIGKILL:
                return fail("resource_limit", "killed (out of memory)")
            return fail("exec_error", f"crashed with {signal.Signals(sig).name}")
        try:
            return decode_child_result(data, limits["max_output_bytes"])
        except MalformedResult as exc:
            if not data:
                code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else wait_status
                return fail("exec_error", f"exited with code {code} without a result")
            return fail("exec_error", f"malformed result from the child: {exc}"[:MAX_ERROR_CHARS])


def _failure(status: str, error: str) -> dict:
    return {"status": status, "answer": None, "error": error[:MAX_ERROR_CHARS], "stdout": ""}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the child leads its own session
    except ProcessLookupError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)  # in case it had not called setsid() yet
    except ProcessLookupError:
        pass


def main() -> None:
    # The protocol gets its own descriptor; anything printed by accident goes to stderr.
    proto_in, proto_out = 0, os.dup(1)
    os.dup2(2, 1)
    # No parent-death signal here: it would fire when the *thread* that started us ends.
    # The service's death closes our stdin instead, which ends the serve loop.
    settings = read_frame(proto_in)
    worker = Worker(settings, proto_out)
    try:
        worker.prepare()
        worker.serve(proto_in)
    finally:
        shutil.rmtree(worker.scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
