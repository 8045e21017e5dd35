"""A seccomp-BPF deny list, built and installed with ctypes (no libseccomp needed).

Installed in each execution child right before untrusted code runs. A denied system
call kills the process (SIGSYS), which the worker reports as ``unsafe``. The list covers
what a math program never needs: new processes and threads, program execution, sockets,
signals to other processes, raising resource limits, namespaces, mounts, identity changes,
kernel-facing interfaces (bpf, io_uring, perf, keyrings, modules).

Only x86-64 has a syscall table here; elsewhere :func:`available` says no and the
sandbox reports the layer as missing instead of pretending.
"""

from __future__ import annotations

import ctypes
import functools
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ALLOW = 0x7FFF0000

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# Classic BPF opcodes.
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06

# x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl).
DENIED_X86_64: dict[str, int] = {
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53,
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "kill": 62, "ptrace": 101,
    "syslog": 103, "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114,
    "setgroups": 116, "setresuid": 117, "setresgid": 119, "rt_sigqueueinfo": 129,
    "mknod": 133, "personality": 135, "pivot_root": 155, "setrlimit": 160, "chroot": 161,
    "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
    "init_module": 175, "delete_module": 176, "tkill": 200, "tgkill": 234,
    "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250, "mknodat": 259,
    "unshare": 272, "accept4": 288, "rt_tgsigqueueinfo": 297, "perf_event_open": 298,
    "fanotify_init": 300, "prlimit64": 302, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "kexec_file_load": 320,
    "bpf": 321, "execveat": 322, "userfaultfd": 323, "pidfd_send_signal": 424,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "pidfd_open": 434, "clone3": 435, "pidfd_getfd": 438,
}


def available() -> bool:
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def build_filter(denied: dict[str, int] = DENIED_X86_64) -> bytes:
    """The BPF program as packed ``struct sock_filter`` entries."""
    numbers = sorted(set(denied.values()))
    ops: list[tuple[int, int, int, int]] = []
    ops.append((_LD_W_ABS, 0, 0, 4))  # seccomp_data.arch
    ops.append((_JEQ_K, 1, 0, AUDIT_ARCH_X86_64))
    ops.append((_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS))
    ops.append((_LD_W_ABS, 0, 0, 0))  # seccomp_data.nr
    # The x32 ABI reaches the same calls under other numbers: refuse it outright.
    ops.append((_JGE_K, len(numbers) + 1, 0, X32_SYSCALL_BIT))
    for i, nr in enumerate(numbers):
        # On match jump to the KILL at the end; otherwise fall through to the next test.
        ops.append((_JEQ_K, len(numbers) - i, 0, nr))
    ops.append((_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    ops.append((_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS))
    return b"".join(struct.pack("HBBI", *op) for op in ops)


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
        raise OSError("seccomp filter has no syscall table for this machine")
    libc, _buffer, fprog = prepare()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
