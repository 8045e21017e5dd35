"""The verifier's isolation policy and token hashes as an operator meets them: a real
``distillery verifier serve`` in a process that really lacks a layer.

Root without CAP_SYS_ADMIN (what a root container with dropped capabilities is) cannot enter a
network namespace: the sandbox's probe genuinely reports ``network_namespace`` missing. By default
a root verifier requires it, so it must refuse to start, naming the layer and the override; with
the override it serves, and says so in GetInfo and in its metrics. It is given token hashes only.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import pytest

from distillery.core.auth import hash_token
from distillery.verifier.client import VerifierClient
from distillery.verifier.records import ThoughtRecord
from tests.conftest import scrape_metrics, stop_process

CLI = Path(sys.executable).parent / "distillery"
SETPRIV = shutil.which("setpriv")
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")},
       "DISTILLERY_HOME": tempfile.mkdtemp(prefix="distillery-home-")}
TEAM_A, TEAM_B = "dst_team-a-4f1c9e", "dst_team-b-8a2d7b"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None,
    reason="needs root and setpriv (util-linux) to start a verifier without CAP_SYS_ADMIN")


def without_sys_admin(*args: str) -> list[str]:
    return [SETPRIV, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", str(CLI), *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_line(process: subprocess.Popen, text: str, timeout_s: float) -> str | None:
    """Read the process's stdout until a line contains ``text``; None if it exits or times out."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if not line:
                return None
            if text in line:
                return line
    return None


def test_a_verifier_missing_a_required_layer_refuses_to_start_naming_it_and_the_override(tmp_path):
    process = subprocess.Popen(without_sys_admin("verifier", "serve", "--port", "0", "--workers", "1"),
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        served = wait_for_line(process, "verifier serving on", timeout_s=90)
        assert served is None, "the verifier started without its network namespace"
        stderr = process.communicate(timeout=30)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode not in (0, None)
    assert "network_namespace" in stderr and "refuses to start" in stderr
    assert "--allow-missing-isolation network_namespace" in stderr
    assert "CLONE_NEWNET" in stderr  # the probe's real reason, not a made-up one


def test_an_override_is_reported_by_getinfo_and_metrics_and_only_hashed_tokens_are_accepted(tmp_path):
    hashes = tmp_path / "token-hashes"
    # Comments and `sha256sum` output lines are accepted.
    hashes.write_text(f"# team a\n{hash_token(TEAM_A)}\n{hash_token(TEAM_B)}  -\n")
    port, metrics_port = free_port(), free_port()
    process = subprocess.Popen(
        without_sys_admin("verifier", "serve", "--port", str(port), "--workers", "1",
                          "--allow-missing-isolation", "network_namespace", "--token-hash-file", str(hashes),
                          "--metrics-port", str(metrics_port)),
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_line(process, "verifier serving on", timeout_s=90), process.stderr.read()[-3000:] \
            if process.poll() is not None else "not serving after 90 s"
        address = f"127.0.0.1:{port}"
        with VerifierClient(address, TEAM_A) as team_a, VerifierClient(address, TEAM_B) as team_b:
            info = team_a.info().isolation
            assert list(info.overridden_layers) == ["network_namespace"] and info.degraded
            assert "network_namespace" in info.missing and not info.network_namespace
            assert {"network_namespace", "seccomp", "landlock", "privilege_drop"} == set(info.required_layers)
            assert info.seccomp and info.landlock_abi >= 1
            record = ThoughtRecord(id="x", thought_type="pot", text="ans = 6 * 7", gold=42)
            assert team_a.verify([record])[0].correct and team_b.verify([record])[0].correct
        for token in ("dst_not-a-team", hash_token(TEAM_A)):  # a hash is not a token
            with VerifierClient(address, token) as stranger:
                with pytest.raises(grpc.RpcError) as raised:
                    stranger.verify([record])
                assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        samples = scrape_metrics(f"http://127.0.0.1:{metrics_port}/metrics")
        layers = {(s["layer"], s["state"]): v for s, v in samples["distillery_verifier_isolation_layer"]}
        assert layers[("network_namespace", "overridden")] == 1.0
        assert layers[("network_namespace", "present")] == 0.0
        assert layers[("seccomp", "present")] == 1.0 and layers[("landlock", "present")] == 1.0
        # The tokens themselves are nowhere in the verifier's environment.
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        assert TEAM_A.encode() not in environ and TEAM_B.encode() not in environ
    finally:
        stop_process(process)


def test_a_malformed_token_hash_is_refused_naming_the_line(tmp_path):
    hashes = tmp_path / "token-hashes"
    hashes.write_text(f"{hash_token(TEAM_A)}\n{TEAM_B}\n")  # a token where its hash belongs
    result = subprocess.run([str(CLI), "verifier", "serve", "--port", "0", "--token-hash-file", str(hashes)],
                            env=ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"--token-hash-file {hashes} line 2: not a SHA-256 hex digest" in result.stderr


def test_a_local_verify_missing_a_required_layer_refuses_unless_overridden(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "thought_type": "pot", "text": "ans = 6 * 7", "gold": 42}\n')
    command = without_sys_admin("verify", str(source), "-o", str(tmp_path / "out.jsonl"))
    refused = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and not (tmp_path / "out.jsonl").exists()
    assert "--allow-missing-isolation network_namespace" in refused.stderr
    allowed = subprocess.run([*command, "--allow-missing-isolation", "network_namespace"], env=ENV,
                             capture_output=True, text=True, timeout=120)
    assert allowed.returncode == 0, allowed.stderr
    assert '"status": "ok"' in (tmp_path / "out.jsonl").read_text()
