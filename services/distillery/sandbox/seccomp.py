"""A seccomp allowlist: the system calls a straight-line math program needs, and nothing else.

Installed in each execution child right before untrusted code runs (and once in a worker that
runs trusted calls in-process). Any other system call -- a new process or thread, exec, sockets,
signals to anyone, scheduling and memory-policy calls on other processes, the mount API,
``modify_ldt``, keyrings, bpf, io_uring, ... -- kills the process (SIGSYS), which the worker
reports as ``unsafe``. Calls that are needed but have dangerous uses are allowed only with
harmless arguments: ``fcntl`` without ``F_SETOWN``/``F_SETSIG``/``O_ASYNC`` (which route a
signal of one's choosing to another process without ``kill()``), leases or notifications;
``ioctl`` only for the terminal probe ``open()`` makes and the close-on-exec flag.

Why kill rather than return EPERM: an honest program never makes these calls, so one that does
is an attack, and the verdict says so (``unsafe``) instead of letting the program catch the
error, probe the filter call by call and carry on. The set was found by tracing (strace -f) every
child and in-process worker of the sandbox, verifier and XoT-reproduction tests: 1319 PoT
programs and 1319 EoT systems, plus the programs in tests/sandbox (see ALLOWED below).

The filter is compiled by libseccomp (through the ``pyseccomp`` ctypes binding) once per
worker, exported as a BPF program, and each child installs those bytes with one ``prctl`` --
no libseccomp work per task. libseccomp also rejects foreign ABIs (i386 ``int 0x80``, x32)
outright. Only x86-64 is enabled (tested); elsewhere :func:`available` says no and the
sandbox reports the layer as missing instead of pretending.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# What the children and the in-process worker were seen to call (strace over the test suite),
# plus the harmless siblings of those calls that the same work reaches on other inputs
# (mremap/madvise when a big buffer grows or is freed, getrandom for random.SystemRandom,
# rt_sigreturn/restart_syscall when a program's own signal handler runs).
ALLOWED: tuple[str, ...] = (
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
    # reading and writing descriptors already open (the result pipe, files in the temp dir)
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close",
    # files: paths are confined by Landlock (reads: the interpreter's files; writes: the temp
    # dir); removal is for the in-process worker cleaning its scratch dir on exit
    "openat", "newfstatat", "fstat", "statx", "getdents64", "getcwd", "unlinkat", "rmdir",
    # time: clocks, CPU time (time.process_time), sleeping
    "clock_gettime", "clock_getres", "gettimeofday", "clock_nanosleep", "nanosleep",
    # the process's own signal dispositions and mask (signal.signal), and returning from them
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "restart_syscall",
    # identity of the process itself, randomness, the end
    "getpid", "gettid", "getrandom", "exit", "exit_group",
)

# fcntl commands allowed as they are. F_SETFL is allowed too, but never with O_ASYNC.
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
FCNTL_COMMANDS = (F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC)
O_ASYNC = 0o20000
# ioctl requests: isatty() (every open() asks) and setting/clearing close-on-exec.
TCGETS, FIONCLEX, FIOCLEX = 0x5401, 0x5450, 0x5451
IOCTL_REQUESTS = (TCGETS, FIONCLEX, FIOCLEX)

_MACHINES = ("x86_64", "AMD64")


def available() -> bool:
    if platform.system() != "Linux" or platform.machine() not in _MACHINES:
        return False
    try:
        import pyseccomp  # noqa: F401 -- raises if libseccomp itself is missing
    except (ImportError, RuntimeError, OSError):
        return False
    return True


def build_filter() -> bytes:
    """The allowlist as a BPF program (packed ``struct sock_filter`` entries), built by libseccomp."""
    import pyseccomp as sc

    rules = sc.SyscallFilter(sc.KILL_PROCESS)
    try:
        rules.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
        rules.set_attr(sc.Attr.CTL_NNP, 0)  # install() sets it itself
        try:
            rules.set_attr(sc.Attr.CTL_OPTIMIZE, 2)  # binary search over the numbers (libseccomp >= 2.5)
        except OSError:
            pass
        for name in ALLOWED:
            rules.add_rule(sc.ALLOW, name)
        for command in FCNTL_COMMANDS:
            rules.add_rule(sc.ALLOW, "fcntl", sc.Arg(1, sc.EQ, command))
        rules.add_rule(sc.ALLOW, "fcntl", sc.Arg(1, sc.EQ, F_SETFL), sc.Arg(2, sc.MASKED_EQ, O_ASYNC, 0))
        for request in IOCTL_REQUESTS:
            rules.add_rule(sc.ALLOW, "ioctl", sc.Arg(1, sc.EQ, request))
        fd = os.memfd_create("distillery-seccomp", os.MFD_CLOEXEC)
        try:
            with os.fdopen(os.dup(fd), "rb") as exported:
                rules.export_bpf(exported)
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        del rules  # seccomp_release


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@functools.lru_cache(maxsize=1)
def prepare() -> tuple:
    # Built once in the worker, inherited by every forked child.
    program = build_filter()
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    return ctypes.CDLL(None, use_errno=True), buffer, fprog


def install() -> None:
    """Install the filter on the calling thread (and everything it would create). Irreversible."""
    if not available():
        raise OSError("no seccomp filter for this machine (x86-64 Linux with libseccomp only)")
    libc, _buffer, fprog = prepare()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
