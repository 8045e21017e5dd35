"""The local stack: the S3 server and the platform's services as background processes.

State lives under ``$DISTILLERY_HOME`` (default ``~/.distillery``):

    stack.json          what runs where (pids, addresses) -- written atomically
    admin.token         the admin token (0600), made on the first ``up``
    token               the ``default`` team's token (0600)
    s3.json             the S3 server's credentials (0600)
    ray.token           the Ray cluster's authentication token (0600; Ray's token auth)
    jobs.key            the jobs controller's key that seals team tokens in job records (0600)
    s3/                 the S3 server's data
    logs/*.log          one log per process

The Ray head (``ray start --head --block``) is the stack's compute cluster: the trainer runs
its Ray Train jobs there and ``distillery serve`` deploys students onto it, with Ray Serve's
HTTP and gRPC proxies on the ports recorded here. Its own files live in a short per-home
directory under /tmp (Ray's socket paths must stay short).

The first ``up`` imports the benchmarks (``../shared/data`` or ``$DISTILLERY_SHARED_DATA``) into
the registry's read-only ``public`` namespace, which every team reads.

``up`` is idempotent: a healthy stack is left as it is; ``down`` stops exactly the
processes ``up`` started (checked by pid *and* command line) and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel

from distillery.core.auth import hash_token
from distillery.core.channels import open_channel
from distillery.core.jsonl import atomic_writer
from distillery.stack.s3server import SeaweedS3, free_port, wait_until_ready

BUCKET = "distillery"
CHECKPOINT_BUCKET = "distillery-checkpoints"
SERVICES = ("s3", "ray", "registry", "verifier", "teacher", "trainer", "jobs")  # in start order
NOT_GRPC = ("s3", "ray")  # no gRPC health service to ask
GRPC_SERVICES = tuple(name for name in SERVICES if name not in NOT_GRPC)  # each with its /metrics
DEFAULT_TEAM = "default"


class ProcessInfo(BaseModel):
    pid: int
    address: str
    command: list[str]
    log: str
    metrics_port: int | None = None  # the service's Prometheus /metrics


class RayPorts(BaseModel):
    """The head's ports that clients use (Ray picks the rest)."""

    dashboard: int  # Ray's dashboard and Jobs API
    metrics: int  # Prometheus metrics of every Ray process and served student
    serve_http: int  # Ray Serve's HTTP proxy: served students at /NAME
    serve_grpc: int  # Ray Serve's gRPC proxy: StudentService


class StackState(BaseModel):
    home: str
    s3: ProcessInfo
    ray: ProcessInfo | None = None
    ray_ports: RayPorts | None = None
    registry: ProcessInfo
    verifier: ProcessInfo
    teacher: ProcessInfo | None = None
    trainer: ProcessInfo | None = None
    jobs: ProcessInfo | None = None
    bucket: str = BUCKET
    default_team: str = DEFAULT_TEAM

    def endpoints(self) -> dict[str, str]:
        endpoints = {"s3": f"http://{self.s3.address}", "registry": self.registry.address,
                     "verifier": self.verifier.address, "teacher": self.teacher.address if self.teacher else None,
                     "trainer": self.trainer.address if self.trainer else None,
                     "jobs": self.jobs.address if self.jobs else None, "ray": self.ray.address if self.ray else None}
        for name in GRPC_SERVICES:
            info = getattr(self, name)
            if info and info.metrics_port:
                endpoints[f"{name}_metrics"] = f"http://127.0.0.1:{info.metrics_port}/metrics"
        if self.ray_ports:
            endpoints.update(ray_dashboard=f"http://127.0.0.1:{self.ray_ports.dashboard}",
                             metrics=f"http://127.0.0.1:{self.ray_ports.metrics}/metrics",
                             serve=f"http://127.0.0.1:{self.ray_ports.serve_http}",
                             serve_grpc=f"127.0.0.1:{self.ray_ports.serve_grpc}")
        return endpoints


def distillery_home() -> Path:
    return Path(os.environ.get("DISTILLERY_HOME", Path.home() / ".distillery")).expanduser()


def load_state(home: Path | None = None) -> StackState | None:
    path = (home or distillery_home()) / "stack.json"
    if not path.exists():
        return None
    return StackState.model_validate_json(path.read_text())


def read_secret(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _write_secret(path: Path, value: str) -> None:
    with atomic_writer(path) as handle:
        handle.write(value + "\n")
    os.chmod(path, 0o600)


def _alive(info: ProcessInfo) -> bool:
    """The pid runs *and* is the process we started (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return [c.decode(errors="replace") for c in cmdline if c] == info.command


def _healthy(address: str, timeout_s: float = 2.0) -> bool:
    with open_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def _wait_healthy(info: ProcessInfo, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # poll(), not _alive(): right after the spawn /proc briefly shows no command line.
        if process.poll() is not None:
            raise RuntimeError(f"{info.command[3:5]} exited during start-up; see {info.log}")
        if _healthy(info.address):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{info.address} not healthy after {timeout_s} s; see {info.log}")


def ray_client_env(home: Path) -> dict[str, str]:
    """What a process needs to join the stack's Ray cluster: Ray's token authentication, and a
    single-node cluster on loopback. ``ray start --node-ip-address=127.0.0.1`` alone still
    resolves the node to the machine's routable IP and binds GCS, raylet and workers on every
    interface; Ray's switch for one-machine clusters (named for macOS/Windows, where it is the
    default) keeps the node at 127.0.0.1, so Ray binds loopback only. Every process that joins
    must agree on that node IP, hence the same variable for the head and its clients."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(home / "ray.token"),
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def ray_temp_dir(home: Path) -> Path:
    """This stack's private directory for Ray's files: short (Ray's socket paths must fit in
    107 bytes, hence /tmp rather than the home) and so predictable -- see prepare_ray_temp_dir."""
    return Path("/tmp") / f"distillery-ray-{hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]}"


def prepare_ray_temp_dir(home: Path) -> Path:
    """Create ray_temp_dir(home) 0700 and return Ray's ``--temp-dir`` inside it.

    Ray makes its own temp dir 0777 (sessions, logs, sockets, object spill), so it goes one level
    down, beneath a directory only we can enter. The name is predictable, so an existing entry is
    used only if it is a real directory (not a symlink), ours, and closed to everyone else;
    anything else was planted or left by someone else and is refused, never repaired.
    """
    private = ray_temp_dir(home)
    try:
        os.mkdir(private, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(private)
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeError(f"{private} is not a directory (a symlink or file put there?); remove it")
    if info.st_uid != os.getuid():
        raise RuntimeError(f"{private} is owned by uid {info.st_uid}, not by this user; remove it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise RuntimeError(f"{private} has permissions {stat.S_IMODE(info.st_mode):04o}, open to other users; "
                           "expected 0700: remove it")
    return private / "ray"


# Ray starts its workers at nice 15, below every other process of the machine; the stack's
# workers are its real work (the served student's engine, training), so they run at the normal
# priority. Measured: +9% served tokens/s on 2 cores (benchmarks/serving_vs_engine.py).
RAY_WORKER_PRIORITY = {"RAY_worker_niceness": "0"}


def _ray_head_command(home: Path, gcs_port: int, ports: RayPorts) -> list[str]:
    num_cpus = os.environ.get("DISTILLERY_RAY_NUM_CPUS") or str(os.cpu_count() or 1)
    return [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", f"--port={gcs_port}",
            f"--num-cpus={num_cpus}", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={ports.dashboard}", f"--metrics-export-port={ports.metrics}",
            # Ray's fixed defaults (52365, 10001) would collide with another stack on the machine.
            f"--dashboard-agent-listen-port={free_port()}", f"--ray-client-server-port={free_port()}",
            "--disable-usage-stats", f"--temp-dir={prepare_ray_temp_dir(home)}"]


def _wait_ray(info: ProcessInfo, process: subprocess.Popen, log_offset: int, timeout_s: float = 120.0) -> None:
    """``ray start --block`` says so in its log once the head runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Ray head exited during start-up; see {info.log}")
        with open(info.log, "rb") as handle:
            handle.seek(log_offset)
            if b"Ray runtime started" in handle.read():
                return
        time.sleep(0.5)
    raise TimeoutError(f"the Ray head did not start in {timeout_s} s; see {info.log}")


def _service_environment() -> dict[str, str]:
    """The environment the stack's processes start with: the caller's, minus server-only settings.

    The local stack speaks plaintext on 127.0.0.1 (its clients do too); a certificate left in
    the user's shell must not turn one of its services into a TLS server nobody can reach.
    """
    from distillery.core.channels import ENV_CERT, ENV_CLIENT_CA, ENV_HEALTH_PORT, ENV_KEY

    # A fixed health port, too: every service of the stack would try to bind the same one.
    server_only = (ENV_CERT, ENV_KEY, ENV_CLIENT_CA, ENV_HEALTH_PORT)
    return {k: v for k, v in os.environ.items() if k not in server_only}


def _spawn(command: list[str], log: Path, env: dict[str, str], address: str,
           with_metrics: bool = False) -> tuple[ProcessInfo, subprocess.Popen]:
    """Start ``command`` in its own session; a gRPC service ``with_metrics`` also gets a free
    ``--metrics-port``."""
    metrics_port = free_port() if with_metrics else None
    if metrics_port:
        command = [*command, "--metrics-port", str(metrics_port)]
    with open(log, "ab") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=env)
    return ProcessInfo(pid=process.pid, address=address, command=command, log=str(log),
                       metrics_port=metrics_port), process


def status(home: Path | None = None) -> dict:
    state = load_state(home)
    if state is None:
        return {"running": False, "home": str(home or distillery_home())}
    alive = {name: _alive(getattr(state, name)) for name in SERVICES if getattr(state, name, None)}
    return {"running": all(alive.values()), "home": state.home, "endpoints": state.endpoints(),
            "processes": {name: {"pid": getattr(state, name).pid, "alive": alive[name]} for name in alive},
            "default_team": state.default_team}


def up(home: Path | None = None) -> StackState:
    home = home or distillery_home()
    state = load_state(home)
    if state and all(getattr(state, n) and _alive(getattr(state, n)) for n in SERVICES) \
            and all(_healthy(getattr(state, n).address) for n in GRPC_SERVICES):
        return state
    if state:
        down(home)  # a partial or stale stack: start clean
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    (home / "logs").mkdir(exist_ok=True)

    credentials_path = home / "s3.json"
    if not credentials_path.exists():
        _write_secret(credentials_path, json.dumps({"access_key": "distillery",
                                                    "secret_key": secrets.token_urlsafe(24)}))
    credentials = json.loads(credentials_path.read_text())
    if read_secret(home / "ray.token") is None:
        _write_secret(home / "ray.token", secrets.token_hex(32))
    if read_secret(home / "jobs.key") is None:
        from cryptography.fernet import Fernet

        _write_secret(home / "jobs.key", Fernet.generate_key().decode())
    admin_token = read_secret(home / "admin.token")
    if admin_token is None:
        admin_token = "dst_admin_" + secrets.token_urlsafe(32)
        _write_secret(home / "admin.token", admin_token)

    s3 = SeaweedS3(home / "s3", credentials["access_key"], credentials["secret_key"],
                   log_path=home / "logs" / "s3.log")
    s3_command = s3.command()
    s3_info, s3_process = _spawn(s3_command, home / "logs" / "s3.log", _service_environment(), s3.endpoint.endpoint)
    started = [s3_process]
    try:
        wait_until_ready(s3.endpoint, 60, s3_process)
        gcs_port = free_port()
        ray_ports = RayPorts(dashboard=free_port(), metrics=free_port(), serve_http=free_port(),
                             serve_grpc=free_port())
        ray_log = home / "logs" / "ray.log"
        ray_log_offset = ray_log.stat().st_size if ray_log.exists() else 0
        ray_info, ray_process = _spawn(_ray_head_command(home, gcs_port, ray_ports), ray_log,
                                       {**_service_environment(), **ray_client_env(home), **RAY_WORKER_PRIORITY},
                                       f"127.0.0.1:{gcs_port}")
        started.append(ray_process)
        _wait_ray(ray_info, ray_process, ray_log_offset)
        env = {**_service_environment(), "DISTILLERY_S3_SECRET_KEY": credentials["secret_key"],
               "DISTILLERY_ADMIN_TOKEN_SHA256": hash_token(admin_token), **ray_client_env(home)}
        env.pop("DISTILLERY_TOKEN", None)
        stack = StackPlaces(home=home, s3=s3.endpoint.endpoint, s3_access_key=credentials["access_key"],
                            ray=ray_info.address, ray_ports=ray_ports)
        environments = {"plain": _service_environment(), "secrets": env,
                        "jobs": {**env, "DISTILLERY_JOBS_KEY": read_secret(home / "jobs.key")}}
        for service in GRPC_STACK:  # in order: each may name the ones before it
            address = f"127.0.0.1:{free_port()}"
            info, process = _spawn(service.command(stack, address), home / "logs" / f"{service.name}.log",
                                   environments[service.environment], address, with_metrics=True)
            started.append(process)
            _wait_healthy(info, process)
            stack.services[service.name] = info
        state = StackState(home=str(home), s3=s3_info, ray=ray_info, ray_ports=ray_ports, **stack.services)
        _ensure_default_team(home, stack.address("registry"), admin_token)
        _import_public_benchmarks(home, stack.address("registry"), admin_token)
    except BaseException:
        for process in reversed(started):
            _kill_group(process.pid)
            process.wait()
        raise
    with atomic_writer(home / "stack.json") as handle:
        handle.write(state.model_dump_json(indent=2))
    return state


@dataclass
class StackPlaces:
    """Where the stack's parts are, as its services start: what the next one's command names."""

    home: Path
    s3: str
    s3_access_key: str
    ray: str
    ray_ports: RayPorts
    services: dict[str, ProcessInfo] = field(default_factory=dict)  # started so far

    def address(self, name: str) -> str:
        return self.services[name].address


def _serve(group: str, address: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "distillery.cli.main", group, "serve", "--port", address.rsplit(":", 1)[1], *args]


@dataclass(frozen=True)
class StackService:
    name: str
    command: Callable[[StackPlaces, str], list[str]]  # (the stack so far, its own address) -> argv
    environment: str  # "plain", "secrets" (S3 key, admin token hash, Ray's token) or "jobs" (+ the sealing key)


# The stack's gRPC services, in start order.
GRPC_STACK = (
    StackService("registry", lambda at, address: _serve(
        "registry", address, "--s3-endpoint", at.s3, "--s3-access-key", at.s3_access_key, "--bucket", BUCKET),
        "secrets"),
    StackService("verifier", lambda at, address: _serve(
        "verifier", address, "--auth-registry", at.address("registry")), "plain"),
    StackService("teacher", lambda at, address: _serve(
        "teacher", address, "--registry", at.address("registry"), "--verifier", at.address("verifier"),
        "--work-dir", str(at.home / "teacher-jobs")), "plain"),
    StackService("trainer", lambda at, address: _serve(
        "trainer", address, "--registry", at.address("registry"), "--s3-endpoint", at.s3, "--s3-access-key",
        at.s3_access_key, "--bucket", CHECKPOINT_BUCKET, "--ray-address", at.ray), "secrets"),
    StackService("jobs", lambda at, address: jobs_command(
        address, at.address("registry"), at.s3, at.s3_access_key, at.ray_ports, at.address("teacher"),
        at.address("trainer"), at.address("verifier")), "jobs"),
)


def jobs_command(address: str, registry: str, s3_endpoint: str, s3_access_key: str, ray_ports: RayPorts,
                 teacher: str, trainer: str, verifier: str) -> list[str]:
    """The jobs controller of this stack (also how a test restarts it after killing it)."""
    return _serve("jobs", address, "--registry", registry, "--s3-endpoint", s3_endpoint, "--s3-access-key",
                  s3_access_key, "--state-bucket", BUCKET, "--backend", "ray", "--ray-address",
                  f"http://127.0.0.1:{ray_ports.dashboard}", "--teacher", teacher, "--trainer", trainer,
                  "--verifier", verifier, "--serve-http-port", str(ray_ports.serve_http), "--serve-grpc-port",
                  str(ray_ports.serve_grpc))


def _ensure_default_team(home: Path, registry_address: str, admin_token: str) -> None:
    from distillery.registry.client import RegistryClient

    token = read_secret(home / "token")
    with RegistryClient(registry_address, admin_token) as admin:
        if token is not None:
            try:
                with RegistryClient(registry_address, token) as team:
                    team.whoami()
                return
            except grpc.RpcError:
                pass  # the S3 data was wiped: make the team again
        try:
            token = admin.create_team(DEFAULT_TEAM)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            token = admin.create_token(DEFAULT_TEAM)
    _write_secret(home / "token", token)


def _import_public_benchmarks(home: Path, registry_address: str, admin_token: str) -> None:
    """The standard problem and evaluation sets, once, into the read-only ``public`` namespace
    every team reads (a no-op when they are there). Without the benchmark data the stack still
    starts; ``registry import-benchmarks --public --data-dir DIR`` imports them later."""
    from distillery.registry.benchmark_import import default_data_dir, import_benchmarks
    from distillery.registry.benchmarks import BENCHMARKS
    from distillery.registry.client import RegistryClient

    try:
        data_dir = default_data_dir()
    except FileNotFoundError as exc:
        with open(home / "logs" / "up.log", "a") as log:
            log.write(f"public benchmarks not imported: {exc}\n")
        return
    with RegistryClient(registry_address, admin_token) as admin:
        import_benchmarks(admin, BENCHMARKS, data_dir, share=True)


def _stop(info: ProcessInfo, timeout_s: float = 15.0) -> None:
    """SIGTERM the service's process group, SIGKILL what is left of it after ``timeout_s``."""
    if not _alive(info):
        return
    try:
        os.killpg(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _group_alive(info.pid):
        time.sleep(0.1)
    _kill_group(info.pid)  # children that outlived their leader (the Ray head's raylet, gcs_server)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # each service is its own session: its children go too
    except ProcessLookupError:
        pass


def down(home: Path | None = None) -> bool:
    """Stop what ``up`` started. Returns whether anything was running."""
    home = home or distillery_home()
    state = load_state(home)
    if state is None:
        return False
    for name in reversed(SERVICES):
        if getattr(state, name, None):
            _stop(getattr(state, name))
    shutil.rmtree(ray_temp_dir(home), ignore_errors=True)  # Ray's session files and logs
    (home / "stack.json").unlink(missing_ok=True)
    return True
