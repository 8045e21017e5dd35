"""A real S3 server process and a real registry on loopback, shared by the registry tests."""

from __future__ import annotations

import uuid

import pytest

from distillery.core.auth import hash_token
from distillery.registry.client import RegistryClient
from distillery.registry.config import RegistryConfig
from distillery.registry.server import create_registry_server
from distillery.core.s3 import S3Config
from distillery.stack.s3server import SeaweedS3

ADMIN_TOKEN = "admin-test-token"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = SeaweedS3(tmp_path_factory.mktemp("s3"), "test-access", "test-secret-key")
    endpoint = server.start()
    yield endpoint
    server.stop()


def s3_config(endpoint, bucket: str) -> S3Config:
    return S3Config(endpoint=endpoint.endpoint, access_key=endpoint.access_key, secret_key=endpoint.secret_key,
                    bucket=bucket)


@pytest.fixture(scope="module")
def registry_config(s3_server) -> RegistryConfig:
    # A bucket per test module: modules never see each other's data.
    return RegistryConfig(s3=s3_config(s3_server, f"test-{uuid.uuid4().hex[:12]}"), shard_bytes=64 * 1024,
                          admin_token_hashes=(hash_token(ADMIN_TOKEN),))


@pytest.fixture(scope="module")
def registry_server(registry_config):
    handle, registry = create_registry_server("127.0.0.1:0", registry_config)
    yield f"127.0.0.1:{handle.port}", registry
    handle.stop(grace_s=1)


@pytest.fixture(scope="module")
def address(registry_server) -> str:
    return registry_server[0]


@pytest.fixture(scope="module")
def admin(address):
    with RegistryClient(address, ADMIN_TOKEN) as client:
        yield client


@pytest.fixture(scope="module")
def team_tokens(admin) -> dict[str, str]:
    return {team: admin.create_team(team) for team in ("alpha", "beta")}


@pytest.fixture(scope="module")
def alpha(address, team_tokens):
    with RegistryClient(address, team_tokens["alpha"]) as client:
        yield client


@pytest.fixture(scope="module")
def beta(address, team_tokens):
    with RegistryClient(address, team_tokens["beta"]) as client:
        yield client
