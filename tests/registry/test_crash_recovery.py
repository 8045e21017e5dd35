"""kill -9 of the registry in the middle of a push: nothing visible, nothing left, clean retry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import grpc
import pytest

from distillery.core.auth import hash_token
from distillery.registry import layout
from distillery.registry.client import RegistryClient, header
from distillery.registry.store import ObjectStore
from distillery.stack.s3server import free_port

from .conftest import s3_config

ADMIN = "crash-admin-token"


def start_registry(endpoint, bucket: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "DISTILLERY_S3_SECRET_KEY": endpoint.secret_key,
           "DISTILLERY_ADMIN_TOKEN_SHA256": hash_token(ADMIN)}
    process = subprocess.Popen(
        [sys.executable, "-m", "distillery.cli.main", "registry", "serve", "--port", str(port),
         "--s3-endpoint", endpoint.endpoint, "--s3-access-key", endpoint.access_key, "--bucket", bucket],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = process.stdout.readline()
    assert line.startswith("registry serving on"), line
    return process


def test_kill_9_mid_push_then_clean_retry(s3_server):
    bucket = f"crash-{uuid.uuid4().hex[:10]}"
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = start_registry(s3_server, bucket, port)
    store = ObjectStore(s3_config(s3_server, bucket))
    try:
        with RegistryClient(address, ADMIN) as admin:
            token = admin.create_team("crashers")
        rows_sent = 0

        def endless_rows():
            nonlocal rows_sent
            while True:
                rows_sent += 2000
                yield b"".join(json.dumps({"id": i, "text": "x" * 200}).encode() + b"\n" for i in range(2000))
                if rows_sent == 100_000:  # enough for several shards to be stored
                    server.send_signal(signal.SIGKILL)

        with RegistryClient(address, token) as client, pytest.raises(grpc.RpcError):
            client.push(header("interrupted"), endless_rows())
        server.wait(timeout=10)
        blobs = list(store.list(layout.blobs_prefix("crashers", "interrupted")))
        assert blobs, "the killed push should have left shards behind for the sweep to find"
        assert list(store.list(layout.versions_prefix("crashers", "interrupted"))) == []

        server = start_registry(s3_server, bucket, port)
        with RegistryClient(address, token) as client:
            assert client.list(name="interrupted") == []  # nothing visible
            deadline = time.monotonic() + 30
            while list(store.list(layout.blobs_prefix("crashers", "interrupted"))) and time.monotonic() < deadline:
                time.sleep(0.2)  # the start-up sweep removes the abandoned upload
            assert list(store.list(layout.blobs_prefix("crashers", "interrupted"))) == []
            retry = client.push(header("interrupted"), [b'{"id": 1}\n{"id": 2}\n'])
            assert retry.ref == "crashers/interrupted@1" and retry.rows == 2
    finally:
        server.kill()
        server.wait()
