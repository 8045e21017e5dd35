"""The OS layers on their own: the AST policy is OFF, so a program holds the full interpreter
(``os``, ``ctypes``, raw system calls) and only seccomp, Landlock and the worker's start-up
isolation stand between it and the machine.

Every attack here must be refused; ordinary programs and the EoT solver (forked per task or
run in the hardened worker itself) must still work.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from distillery.core.outcome import Status
from distillery.sandbox import ExecutionLimits, Sandbox, SandboxConfig, seccomp
from distillery.verifier.verifier import EOT_SOLVER

# Modules the raw programs use, loaded by the worker: a child that runs as `nobody` may not be
# able to read the interpreter's directories itself (e.g. a pyenv Python under /root).
RAW_PRELOAD = ("os", "sys", "fcntl", "ctypes", "socket", "signal", "time", "errno")

pytestmark = pytest.mark.skipif(not seccomp.available(), reason="no seccomp on this machine")


@pytest.fixture(scope="module")
def raw():
    config = SandboxConfig(workers=1, ast_policy=False, preload=RAW_PRELOAD, require=("seccomp", "landlock"),
                           limits=ExecutionLimits(timeout_s=5.0, memory_mb=128))
    with Sandbox(config) as box:
        yield box


# -- the service's working directory -------------------------------------------------------

@pytest.fixture()
def service_cwd(monkeypatch):
    """A directory the service is started from, holding a world-readable secret and a module.

    World-readable (0755/0644) and outside any 0700 parent, so that `nobody` could read it by
    file permissions alone: only Landlock (and the worker's isolated start) can stop the read.
    """
    directory = Path(tempfile.mkdtemp(prefix="distillery-cwd-", dir="/tmp"))
    try:
        os.chmod(directory, 0o755)
        (directory / "admin.token").write_text("s3cr3t-admin-token")
        (directory / "leaky.py").write_text("VALUE = 42\n")
        for name in ("admin.token", "leaky.py"):
            os.chmod(directory / name, 0o644)
        monkeypatch.chdir(directory)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_programs_cannot_read_the_directory_the_service_started_from(service_cwd):
    secret = service_cwd / "admin.token"
    config = SandboxConfig(workers=1, ast_policy=False, preload=("os", "sys"),
                           limits=ExecutionLimits(timeout_s=5.0, memory_mb=128))
    with Sandbox(config) as box:
        attacks = {
            "absolute path": f"ans = len(open({str(secret)!r}).read())",
            "listing": f"import os\nans = len(os.listdir({str(service_cwd)!r}))",
            "import from the working directory": "import leaky\nans = leaky.VALUE",
            "through sys.path": ("import sys\nans = [len(open(p + '/admin.token').read()) for p in sys.path\n"
                                 "       if p and not p.endswith('.zip')][0]"),
        }
        for name, program in attacks.items():
            outcome = box.run_python(program).outcome
            assert outcome.status is not Status.OK and outcome.answer is None, (name, outcome)
        # The worker was started isolated: neither '' nor the service's directory is on its path.
        on_path = box.run_python(f"import sys\nans = int(any(p in ('', {str(service_cwd)!r}) for p in sys.path))")
        assert on_path.outcome.status is Status.OK and on_path.outcome.answer == 0.0
        # The layers did not get in the way of ordinary work.
        assert box.run_python("import math\nans = math.factorial(5)").outcome.answer == 120.0


def test_landlock_roots_are_explicit(service_cwd):
    """What the worker computes, started the way the pool starts it: no cwd, no site-packages."""
    from distillery.sandbox import pool

    probe = ("import json, sys, math, fractions, sympy\nsys.path.append(sys.argv[1])\n"
             "from distillery.sandbox import isolation\nprint(json.dumps(isolation.readable_roots()))")
    command = pool._worker_command()
    command[command.index(pool._WORKER_BOOTSTRAP)] = probe
    roots = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, cwd=service_cwd,
                                      env=pool._worker_environment()).stdout)
    assert not any(str(service_cwd).startswith(root) for root in roots if root != "/"), roots
    assert "/" not in roots and "/tmp" not in roots and "/usr/lib" not in roots
    # No site-packages directory as a whole: only the packages the worker loaded from it.
    assert not any(Path(root).name in ("site-packages", "dist-packages") for root in roots), roots
    assert os.path.dirname(os.__file__) in roots  # the standard library
    assert any(root.endswith("/sympy") for root in roots)


# -- seccomp: an allowlist -----------------------------------------------------------------

LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
# A descriptor made with allowed calls only (pipes are not allowed).
FD = "import fcntl, os\nr = os.open('f', os.O_CREAT | os.O_RDWR)\n"

# name: (setup, attack). The setup alone must run (so the attack line is what the filter
# judges); {target} is the worker's pid -- the process an attacker would signal.
REFUSED = {
    # Signals to other processes without kill(): SIGIO routed to a chosen pid as a chosen signal.
    "fcntl F_SETOWN": (FD, "fcntl.fcntl(r, fcntl.F_SETOWN, {target})"),
    "fcntl F_SETSIG": (FD, "fcntl.fcntl(r, 10, 9)"),
    "fcntl F_SETOWN_EX": (FD, "fcntl.fcntl(r, 15, bytes(8))"),
    "fcntl O_ASYNC": (FD, "fcntl.fcntl(r, fcntl.F_SETFL, os.O_ASYNC | os.O_NONBLOCK)"),
    "fcntl F_SETLEASE": (FD, "fcntl.fcntl(r, 1024, 0)"),
    "fcntl F_SETOWN with high bits": (FD + LIBC, "libc.syscall(72, r, ctypes.c_long((1 << 32) | 8), {target})"),
    "pipe": ("import os", "os.pipe()"),
    "ioctl TIOCSTI": ("import fcntl", "fcntl.ioctl(0, 0x5412, b'x')"),
    "modify_ldt": (LIBC, "libc.syscall(154, 0, 0, 0)"),
    "setpriority": ("import os", "os.setpriority(os.PRIO_PROCESS, 0, 19)"),
    "migrate_pages": (LIBC, "libc.syscall(256, 0, 0, 0, 0)"),
    "move_pages": (LIBC, "libc.syscall(279, 0, 0, 0, 0, 0, 0)"),
    "fsopen": (LIBC, "libc.syscall(430, b'tmpfs', 0)"),
    "open_tree": (LIBC, "libc.syscall(428, -100, b'/', 0)"),
    "fsmount": (LIBC, "libc.syscall(432, 0, 0, 0)"),
    "mount_setattr": (LIBC, "libc.syscall(442, -100, b'/', 0, 0, 0)"),
    "socket": ("import socket", "socket.socket(socket.AF_UNIX)"),
    "fork": ("import os", "os.fork()"),
    "clone": (LIBC, "libc.syscall(56, 0, 0, 0, 0, 0)"),
    "x32 ABI": (LIBC, "libc.syscall(0x40000000 | 39)"),  # getpid under the x32 numbering
    "kill": ("import os", "os.kill({target}, 0)"),
    "parent pid": ("import os", "os.getppid()"),
    "ptrace": (LIBC, "libc.syscall(101, 16, {target}, 0, 0)"),
    "prctl": (LIBC, "libc.prctl(15, b'renamed', 0, 0, 0)"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_syscalls_outside_the_allowlist_end_the_program(raw, name):
    setup, attack = REFUSED[name]
    target = raw._workers[0].process.pid
    assert raw.run_python(setup + "\nans = 1").outcome.status is Status.OK, name
    outcome = raw.run_python(setup + "\n" + attack.format(target=target) + "\nans = 1").outcome
    assert outcome.status is Status.UNSAFE, (name, outcome)
    assert outcome.answer is None
    assert raw._workers[0].alive and raw.restarts == 0


def test_ordinary_programs_still_run_without_the_policy(raw):
    program = """
import fcntl, os, time, math, errno
fd = os.open('numbers', os.O_CREAT | os.O_RDWR)
flags = fcntl.fcntl(fd, fcntl.F_GETFL)
fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
os.set_inheritable(os.dup(fd), True)
os.write(fd, b'12')
os.lseek(fd, 0, os.SEEK_SET)
got = os.read(fd, 2)
time.sleep(0.01)
with open('scratch.txt', 'w') as f:
    f.write('30')
with open('scratch.txt') as f:
    value = int(f.read())
names = os.listdir('.')
big = bytearray(50 * 1024 * 1024)
del big
print('fine')
ans = int(got) + value + len(names) + math.isqrt(16) + os.getpid() * 0 + time.process_time() * 0
"""
    result = raw.run_python(program)
    assert result.outcome.status is Status.OK, result.outcome
    assert result.outcome.answer == 12 + 30 + 2 + 4
    assert result.stdout == "fine\n"
    assert raw.restarts == 0


@pytest.mark.parametrize("fork_per_task", [True, False])
def test_eot_solving_runs_under_the_allowlist(fork_per_task):
    config = SandboxConfig(workers=1, allowed_imports=(), preload=("sympy", EOT_SOLVER.split(":")[0]),
                           fork_per_task=fork_per_task, require=("seccomp",))
    with Sandbox(config) as box:
        outcome = box.call(EOT_SOLVER, "a = x * y\nx + y = 5\nx - y = 1\nans = a").outcome
        assert outcome.status is Status.OK and outcome.answer == 6.0, outcome
        assert box.call(EOT_SOLVER, "3 * x + 2 = 11\nans = x ** 2").outcome.answer == 9.0
        assert box.restarts == 0


def test_stopped_workers_leave_no_scratch_dir_behind():
    # A worker hardened in-process cannot remove its own scratch dir (Landlock); the pool does.
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "distillery-sandbox-*")))
    for fork_per_task in (True, False):
        config = SandboxConfig(workers=1, preload=(EOT_SOLVER.split(":")[0],), fork_per_task=fork_per_task)
        with Sandbox(config) as box:
            assert box.call(EOT_SOLVER, "x + 1 = 3\nans = x").outcome.answer == 2.0
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "distillery-sandbox-*"))) <= before


# -- the local Ray temp dir ------------------------------------------------------------------

def test_ray_temp_dir_is_private(tmp_path, monkeypatch):
    from distillery.stack import local

    home = tmp_path / "home"
    home.mkdir()
    private = local.ray_temp_dir(home)
    shutil.rmtree(private, ignore_errors=True)
    try:
        inner = local.prepare_ray_temp_dir(home)
        assert inner.parent == private or inner == private
        info = private.stat()
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
        # Ray makes its own directory 0777; the private parent keeps others out all the same.
        assert local.prepare_ray_temp_dir(home) == inner  # reusing our own is fine
        os.chmod(private, 0o777)
        with pytest.raises(RuntimeError, match="permissions"):
            local.prepare_ray_temp_dir(home)
        os.chmod(private, 0o700)
        if os.getuid() == 0:
            os.chown(private, 65534, 65534)  # planted by another user
            with pytest.raises(RuntimeError, match="owned"):
                local.prepare_ray_temp_dir(home)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    # A symlink planted at the name is refused too, never followed.
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    private.symlink_to(target)
    try:
        with pytest.raises(RuntimeError):
            local.prepare_ray_temp_dir(home)
    finally:
        private.unlink()
