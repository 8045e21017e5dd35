"""The chart's scripts (charts/distillery/files), run as the chart runs them -- `python SCRIPT` with
the environment the templates give them -- against a real S3 server (SeaweedFS on loopback).

bootstrap.py must leave tokens the real registry accepts; fetch_model.py must copy a model
prefix into a directory and resume.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid

import pytest
from minio import Minio

from distillery.core.s3 import S3Config
from distillery.registry.auth import TeamDirectory
from distillery.registry.store import ObjectStore
from distillery.stack.s3server import SeaweedS3

from .conftest import CHART

FILES = CHART / "files"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = SeaweedS3(tmp_path_factory.mktemp("chart-s3"), "chart-access", "chart-secret-key")
    endpoint = server.start()
    yield endpoint
    server.stop()


def s3_env(endpoint) -> dict[str, str]:
    return {**os.environ, "DISTILLERY_S3_ENDPOINT": endpoint.endpoint, "DISTILLERY_S3_ACCESS_KEY": endpoint.access_key,
            "DISTILLERY_S3_SECRET_KEY": endpoint.secret_key, "DISTILLERY_S3_SECURE": "false"}


def run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FILES / script), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_bootstrap_creates_the_buckets_and_registers_tokens_the_registry_accepts(s3):
    suffix = uuid.uuid4().hex[:8]
    registry_bucket, checkpoints = f"reg-{suffix}", f"ckpt-{suffix}"
    tokens = {"research": f"dst_research-{suffix}", "product": f"dst_product-{suffix}"}
    env = {**s3_env(s3), "DISTILLERY_BUCKETS": f"{registry_bucket},{checkpoints}",
           "DISTILLERY_TEAMS": "research,product", "DISTILLERY_TEAM_TOKEN_0": tokens["research"],
           "DISTILLERY_TEAM_TOKEN_1": tokens["product"]}
    first = run("bootstrap.py", env)
    assert first.returncode == 0, first.stderr
    assert f"bucket {registry_bucket}: created" in first.stdout and f"bucket {checkpoints}: created" in first.stdout
    assert all(token not in first.stdout + first.stderr for token in tokens.values())  # never printed

    # The registry's own authentication code sees the teams and their tokens.
    store = ObjectStore(S3Config(endpoint=s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                                 bucket=registry_bucket))
    directory = TeamDirectory(store)
    for team, token in tokens.items():
        assert directory.team_exists(team)
        assert directory.authenticate(token).team == team
    assert directory.authenticate("dst_not-a-token") is None
    # A token issued later by the registry itself still works beside them.
    assert directory.authenticate(directory.create_token("research")).team == "research"

    # Idempotent: a second run (helm upgrade) changes nothing.
    second = run("bootstrap.py", env)
    assert second.returncode == 0, second.stderr
    assert "team research: already registered" in second.stdout and f"bucket {registry_bucket}: exists" in second.stdout


def test_bootstrap_refuses_a_token_that_belongs_to_another_team(s3):
    suffix = uuid.uuid4().hex[:8]
    shared = f"dst_shared-{suffix}"
    env = {**s3_env(s3), "DISTILLERY_BUCKETS": f"reg-{suffix}", "DISTILLERY_TEAMS": "alpha,beta",
           "DISTILLERY_TEAM_TOKEN_0": shared, "DISTILLERY_TEAM_TOKEN_1": shared}
    result = run("bootstrap.py", env)
    assert result.returncode != 0
    assert "already registered to team alpha" in result.stderr


def test_bootstrap_refuses_a_team_without_a_token(s3):
    env = {**s3_env(s3), "DISTILLERY_BUCKETS": "whatever", "DISTILLERY_TEAMS": "alpha"}
    result = run("bootstrap.py", env)
    assert result.returncode != 0 and "no token for team(s) alpha" in result.stderr


def test_fetch_model_copies_a_prefix_and_resumes(s3, tmp_path):
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    client.make_bucket(bucket)
    files = {"config.json": b'{"model_type": "llama"}', "model.safetensors": os.urandom(200_000),
             "tokenizer/tokenizer.json": b"{}"}
    for name, data in files.items():
        client.put_object(bucket, f"models/teacher/{name}", io.BytesIO(data), len(data))
    client.put_object(bucket, "models/teacher-other/config.json", io.BytesIO(b"no"), 2)  # a sibling prefix
    env = {**s3_env(s3), "DISTILLERY_MODEL_BUCKET": bucket, "DISTILLERY_MODEL_PREFIX": "models/teacher"}
    target = tmp_path / "model"

    first = run("fetch_model.py", env, str(target))
    assert first.returncode == 0, first.stderr
    assert "3 fetched, 0 already there" in first.stdout
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    assert sorted(p.name for p in target.rglob("*") if p.is_file()) == ["config.json", "model.safetensors",
                                                                        "tokenizer.json"]
    second = run("fetch_model.py", env, str(target))
    assert second.returncode == 0 and "0 fetched, 3 already there" in second.stdout

    missing = run("fetch_model.py", {**env, "DISTILLERY_MODEL_PREFIX": "models/none"}, str(tmp_path / "none"))
    assert missing.returncode != 0 and "no objects under" in missing.stderr
