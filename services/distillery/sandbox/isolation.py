"""The OS layers around untrusted code, and a report of which ones are really in force.

Worker (fork server) level, once at start:
  * network namespace -- the worker and every child it forks see no network at all
    (as root: ``unshare(CLONE_NEWNET)``; otherwise inside a new user namespace).

Child level, after fork and before the untrusted code runs (:func:`harden_child`):
  * its own session, killed with the worker (PR_SET_PDEATHSIG), std fds on /dev/null;
  * rlimits: address space, CPU seconds, file size, open files, no core dumps,
    no new processes (RLIMIT_NPROC -- not enforced for root, hence the next two);
  * privilege drop to ``nobody`` when the worker runs as root;
  * Landlock: reads only the interpreter's files and those of the modules the worker
    loaded (:func:`readable_roots`: never the working directory, never ``sys.path``
    wholesale), writes only in the private temp dir, no execution, no TCP, no signals out
    of the domain;
  * seccomp: an allowlist of the calls a math program makes (memory, reading and writing
    open descriptors, files under Landlock, clocks, its own signal mask, exit); anything
    else -- fork/clone/exec, sockets, kill, fcntl(F_SETOWN), the mount API, ... -- kills
    the process.

A layer the machine cannot provide (no user namespaces in a locked-down pod, an old
kernel without Landlock) is reported as missing -- in the log and in the isolation
report the verifier's Info call and health status carry -- never silently skipped.
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import signal
import sys
import sysconfig
from dataclasses import asdict, dataclass, field

from distillery.sandbox import landlock, seccomp

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1
NOBODY = 65534

LAYERS = ("network_namespace", "seccomp", "landlock", "privilege_drop")


def check_layers(layers: tuple[str, ...]) -> tuple[str, ...]:
    """``layers`` if every one is a known layer name, else ValueError naming the unknown ones."""
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        raise ValueError(f"unknown isolation layer(s) {', '.join(unknown)}; choose from {', '.join(LAYERS)}")
    return layers


@dataclass
class IsolationReport:
    network_namespace: bool = False
    user_namespace: bool = False
    seccomp: bool = False
    landlock_abi: int = 0
    privilege_drop: bool = False
    rlimits: bool = True
    ast_policy: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def landlock(self) -> bool:
        return self.landlock_abi > 0

    def missing(self) -> list[str]:
        return [layer for layer in LAYERS if not getattr(self, layer)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "IsolationReport":
        return cls(**data)


@functools.lru_cache(maxsize=1)
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def set_parent_death_signal() -> None:
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def enter_network_namespace(report: IsolationReport) -> None:
    """Move the calling (single-threaded) worker into an empty network namespace."""
    libc = _libc()
    if os.geteuid() == 0:
        if libc.unshare(CLONE_NEWNET) == 0:
            report.network_namespace = True
            return
        report.notes.append(f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())}")
        return
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        report.notes.append(
            f"user namespaces unavailable ({os.strerror(ctypes.get_errno())}); "
            "no network namespace: sockets are still refused by seccomp/Landlock"
        )
        return
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    except OSError as exc:
        report.notes.append(f"could not map ids in the user namespace: {exc}")
    report.user_namespace = True
    report.network_namespace = True


@functools.lru_cache(maxsize=1)
def readable_roots() -> list[str]:
    """What a child may read: the interpreter's files and those of the modules the worker loaded.

    Computed once, in the worker, after it imported the allowed and preloaded modules (the
    first call fixes the answer). Explicit by design: never ``sys.path`` wholesale, never the
    working directory -- a service started from ``$HOME`` must not hand its programs
    ``~/.distillery``. Granted:

      * the standard library and its extension-module directory (lazy imports of stdlib
        modules an allowed module reaches);
      * the package directory (or single file) of every module in ``sys.modules``, i.e. the
        allowed and preloaded modules and the worker's own code -- not the site-packages
        directory they sit in;
      * each shared library file the worker has mapped (libc, libpython, extension modules'
        libraries), one file at a time, not their directories.
    """
    roots: set[str] = set()
    stdlib = os.path.dirname(os.__file__)
    roots.add(stdlib)
    dynload = sysconfig.get_config_var("DESTSHARED")
    if dynload:
        roots.add(dynload)
    for name, module in list(sys.modules.items()):
        roots.update(_module_paths(name, module))
    roots.update(_mapped_files())
    existing = {os.path.realpath(root) for root in roots if root and os.path.isabs(root)}
    existing = {root for root in existing if os.path.exists(root)}
    # Keep the list short: drop what a granted directory already covers.
    kept = [root for root in sorted(existing)
            if not any(root != other and root.startswith(other.rstrip("/") + "/")
                       for other in existing if os.path.isdir(other))]
    return kept


def _module_paths(name: str, module) -> list[str]:
    """Where a loaded module's files are: its top-level package's directory, or its own file."""
    top = sys.modules.get(name.partition(".")[0], module)
    for candidate in (top, module):
        path = getattr(candidate, "__path__", None)
        if path is not None:  # a package (maybe a namespace package): its directories
            try:
                return [p for p in list(path) if isinstance(p, str)]
            except TypeError:
                continue
        file = getattr(candidate, "__file__", None)
        if isinstance(file, str):
            archive = file.partition(".zip" + os.sep)
            return [archive[0] + ".zip" if archive[1] else file]
    return []


def _mapped_files() -> list[str]:
    """Regular files mapped into this process (shared libraries), from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    files = set()
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/") and not fields[5].endswith(" (deleted)"):
            files.add(fields[5])
    return sorted(files)


def probe_child_layers(report: IsolationReport, scratch_dir: str) -> None:
    """Find out, in a throwaway child, which per-child layers this machine supports."""
    report.privilege_drop = os.geteuid() == 0
    if seccomp.available():
        try:
            seccomp.prepare()  # compiled here, once: children only install the bytes
        except OSError as exc:
            report.notes.append(f"seccomp filter could not be built: {exc}")
    for layer in ("landlock", "seccomp"):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: try the one layer, report through the exit code
            os.close(read_fd)
            try:
                if layer == "landlock":
                    landlock.restrict_self(landlock.create_ruleset(scratch_dir, readable_roots()))
                    code = landlock.abi_version()
                else:
                    seccomp.install()
                    code = 1
                os.write(write_fd, str(code).encode())
            except Exception as exc:  # noqa: BLE001 -- any failure means "layer missing"
                os.write(write_fd, f"error:{exc}".encode())
            os._exit(0)
        os.close(write_fd)
        answer = os.read(read_fd, 4096).decode()
        os.close(read_fd)
        os.waitpid(pid, 0)
        if answer.startswith("error:") or not answer:
            report.notes.append(f"{layer} unavailable: {answer[6:] or 'probe crashed'}")
        elif layer == "landlock":
            report.landlock_abi = int(answer)
        else:
            report.seccomp = True


def harden_child(report: IsolationReport, temp_dir: str, limits: dict, baseline_as: int,
                 landlock_ruleset: int | None) -> None:
    """Apply every per-child layer the report says is available. Raises if one fails."""
    os.setsid()
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    _harden(report, temp_dir, limits, baseline_as, landlock_ruleset, death_signal=True)


def harden_worker(report: IsolationReport, scratch_dir: str, limits: dict, baseline_as: int,
                  landlock_ruleset: int | None) -> None:
    """Harden a long-lived worker that runs trusted functions in-process (no fork per task).

    The same layers as a child, minus the per-task CPU limit (the service enforces the
    wall-clock limit by killing the whole worker) and minus a new session.
    """
    _harden(report, scratch_dir, limits, baseline_as, landlock_ruleset)


def _harden(report: IsolationReport, work_dir: str, limits: dict, baseline_as: int,
            landlock_ruleset: int | None, death_signal: bool = False) -> None:
    os.chdir(work_dir)
    soft_as = baseline_as + limits["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (soft_as, soft_as))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["max_file_bytes"], limits["max_file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if report.privilege_drop:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    if death_signal:
        # After the identity change, which clears it, and before seccomp, which forbids prctl:
        # die with the worker.
        set_parent_death_signal()
    # seccomp last: everything above needs calls the allowlist refuses.
    if report.landlock:
        landlock.restrict_self(landlock_ruleset)
        os.close(landlock_ruleset)
    if report.seccomp:
        seccomp.install()


def address_space_bytes() -> int:
    """The calling process's current virtual size: the baseline a child's memory limit adds to."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")
