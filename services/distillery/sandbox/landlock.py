"""Landlock (Linux >= 5.13): an unprivileged file-system and network allowlist, via ctypes.

Applied in each execution child: reading is allowed only in the files the worker says it
needs (the interpreter's standard library, the packages it loaded, the shared libraries it
mapped -- see ``isolation.readable_roots``) and the child's private temp dir; writing,
creating and removing files only beneath that temp dir; executing files nowhere. On ABI >= 4 TCP bind/connect are denied and on
ABI >= 6 signals to processes outside the sandbox domain (the worker, the service) are
denied as well -- each a second wall behind seccomp.
"""

from __future__ import annotations

import ctypes
import functools
import os

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights by the ABI version that introduced them.
_FS_V1 = (1 << 13) - 1  # execute .. make_sym
_FS_REFER = 1 << 13  # v2
_FS_TRUNCATE = 1 << 14  # v3
_FS_IOCTL_DEV = 1 << 15  # v5
_READ_FILE = 1 << 2
_READ_DIR = 1 << 3
_EXECUTE = 1 << 0
_NET_BIND_TCP = 1 << 0  # v4
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX = 1 << 0  # v6
_SCOPE_SIGNAL = 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@functools.lru_cache(maxsize=1)
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    try:
        version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                                  ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _handled_fs(abi: int) -> int:
    mask = _FS_V1
    if abi >= 2:
        mask |= _FS_REFER
    if abi >= 3:
        mask |= _FS_TRUNCATE
    if abi >= 5:
        mask |= _FS_IOCTL_DEV
    return mask


def create_ruleset(writable: str, readable: list[str]) -> int:
    """A ruleset fd allowing writes only beneath ``writable`` and reads beneath it and ``readable``.

    Built once per worker; every child applies it with :func:`restrict_self`. ``readable``
    holds directories (read beneath) and single files (read that file); paths that do not
    exist are skipped.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available on this kernel")
    libc = _libc()
    handled = _handled_fs(abi)
    attr = _RulesetAttr(
        handled_access_fs=handled,
        handled_access_net=(_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0,
        scoped=(_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0,
    )
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        _allow_beneath(libc, ruleset, writable, handled & ~_EXECUTE)
        for path in readable:
            if os.path.isdir(path):
                _allow_beneath(libc, ruleset, path, _READ_FILE | _READ_DIR)
            elif os.path.isfile(path):  # a single file: only file rights may be granted on it
                _allow_beneath(libc, ruleset, path, _READ_FILE)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def restrict_self(ruleset: int) -> None:
    """Enforce the ruleset on the calling process and everything it creates. Irreversible."""
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")


def _allow_beneath(libc, ruleset: int, path: str, access: int) -> None:
    dir_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = _PathBeneathAttr(allowed_access=access, parent_fd=dir_fd)
        if libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(dir_fd)
