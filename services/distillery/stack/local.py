"""The local stack: the S3 server and the platform's services as background processes.

State lives under ``$DISTILLERY_HOME`` (default ``~/.distillery``):

    stack.json          what runs where (pids, addresses) -- written atomically
    admin.token         the admin token (0600), made on the first ``up``
    token               the ``default`` team's token (0600)
    s3.json             the S3 server's credentials (0600)
    s3/                 the S3 server's data
    logs/*.log          one log per process

``up`` is idempotent: a healthy stack is left as it is; ``down`` stops exactly the
processes ``up`` started (checked by pid *and* command line) and nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel

from distillery.core.auth import hash_token
from distillery.core.jsonl import atomic_writer
from distillery.stack.s3server import SeaweedS3, free_port, wait_until_ready

BUCKET = "distillery"
CHECKPOINT_BUCKET = "distillery-checkpoints"
SERVICES = ("s3", "registry", "verifier", "teacher", "trainer")  # in start order
DEFAULT_TEAM = "default"


class ProcessInfo(BaseModel):
    pid: int
    address: str
    command: list[str]
    log: str


class StackState(BaseModel):
    home: str
    s3: ProcessInfo
    registry: ProcessInfo
    verifier: ProcessInfo
    teacher: ProcessInfo | None = None
    trainer: ProcessInfo | None = None
    bucket: str = BUCKET
    default_team: str = DEFAULT_TEAM

    def endpoints(self) -> dict[str, str]:
        return {"s3": f"http://{self.s3.address}", "registry": self.registry.address,
                "verifier": self.verifier.address, "teacher": self.teacher.address if self.teacher else None,
                "trainer": self.trainer.address if self.trainer else None}


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
    with grpc.insecure_channel(address) as channel:
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


def _spawn(command: list[str], log: Path, env: dict[str, str], address: str) -> tuple[ProcessInfo, subprocess.Popen]:
    with open(log, "ab") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=env)
    return ProcessInfo(pid=process.pid, address=address, command=command, log=str(log)), process


def status(home: Path | None = None) -> dict:
    state = load_state(home)
    if state is None:
        return {"running": False, "home": str(home or distillery_home())}
    alive = {name: _alive(getattr(state, name)) for name in SERVICES if getattr(state, name)}
    return {"running": all(alive.values()), "home": state.home, "endpoints": state.endpoints(),
            "processes": {name: {"pid": getattr(state, name).pid, "alive": alive[name]} for name in alive},
            "default_team": state.default_team}


def up(home: Path | None = None) -> StackState:
    home = home or distillery_home()
    state = load_state(home)
    if state and all(getattr(state, n) and _alive(getattr(state, n)) for n in SERVICES) \
            and all(_healthy(getattr(state, n).address) for n in SERVICES if n != "s3"):
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
    admin_token = read_secret(home / "admin.token")
    if admin_token is None:
        admin_token = "dst_admin_" + secrets.token_urlsafe(32)
        _write_secret(home / "admin.token", admin_token)

    s3 = SeaweedS3(home / "s3", credentials["access_key"], credentials["secret_key"],
                   log_path=home / "logs" / "s3.log")
    s3_command = s3.command()
    s3_info, s3_process = _spawn(s3_command, home / "logs" / "s3.log", dict(os.environ), s3.endpoint.endpoint)
    started = [s3_process]
    try:
        wait_until_ready(s3.endpoint, 60, s3_process)
        env = {**os.environ, "DISTILLERY_S3_SECRET_KEY": credentials["secret_key"],
               "DISTILLERY_ADMIN_TOKEN_SHA256": hash_token(admin_token)}
        env.pop("DISTILLERY_TOKEN", None)
        registry_address = f"127.0.0.1:{free_port()}"
        registry_info, registry_process = _spawn(
            [sys.executable, "-m", "distillery.cli.main", "registry", "serve", "--port",
             registry_address.rsplit(":", 1)[1], "--s3-endpoint", s3.endpoint.endpoint, "--s3-access-key",
             credentials["access_key"], "--bucket", BUCKET],
            home / "logs" / "registry.log", env, registry_address)
        started.append(registry_process)
        _wait_healthy(registry_info, registry_process)
        verifier_address = f"127.0.0.1:{free_port()}"
        verifier_info, verifier_process = _spawn(
            [sys.executable, "-m", "distillery.cli.main", "verifier", "serve", "--port",
             verifier_address.rsplit(":", 1)[1], "--auth-registry", registry_address],
            home / "logs" / "verifier.log", dict(os.environ), verifier_address)
        started.append(verifier_process)
        _wait_healthy(verifier_info, verifier_process)
        teacher_address = f"127.0.0.1:{free_port()}"
        teacher_info, teacher_process = _spawn(
            [sys.executable, "-m", "distillery.cli.main", "teacher", "serve", "--port",
             teacher_address.rsplit(":", 1)[1], "--registry", registry_address, "--verifier", verifier_address,
             "--work-dir", str(home / "teacher-jobs")],
            home / "logs" / "teacher.log", dict(os.environ), teacher_address)
        started.append(teacher_process)
        _wait_healthy(teacher_info, teacher_process)
        trainer_address = f"127.0.0.1:{free_port()}"
        trainer_info, trainer_process = _spawn(
            [sys.executable, "-m", "distillery.cli.main", "trainer", "serve", "--port",
             trainer_address.rsplit(":", 1)[1], "--registry", registry_address, "--s3-endpoint",
             s3.endpoint.endpoint, "--s3-access-key", credentials["access_key"], "--bucket", CHECKPOINT_BUCKET],
            home / "logs" / "trainer.log", env, trainer_address)
        started.append(trainer_process)
        _wait_healthy(trainer_info, trainer_process)
        state = StackState(home=str(home), s3=s3_info, registry=registry_info, verifier=verifier_info,
                           teacher=teacher_info, trainer=trainer_info)
        _ensure_default_team(home, registry_address, admin_token)
    except BaseException:
        for process in started:
            process.kill()
            process.wait()
        raise
    with atomic_writer(home / "stack.json") as handle:
        handle.write(state.model_dump_json(indent=2))
    return state


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


def _stop(info: ProcessInfo, timeout_s: float = 15.0) -> None:
    if not _alive(info):
        return
    try:
        os.killpg(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(info):
        time.sleep(0.1)
    if _alive(info):
        os.killpg(info.pid, signal.SIGKILL)


def down(home: Path | None = None) -> bool:
    """Stop what ``up`` started. Returns whether anything was running."""
    home = home or distillery_home()
    state = load_state(home)
    if state is None:
        return False
    for name in reversed(SERVICES):
        if getattr(state, name):
            _stop(getattr(state, name))
    (home / "stack.json").unlink(missing_ok=True)
    return True
