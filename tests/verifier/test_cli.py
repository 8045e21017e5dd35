"""``distillery verify`` as a user runs it: a real process, real files, the DESIGN.md contract."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "distillery"


# Hermetic: no local stack, no token from the developer's environment.
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")},
       "DISTILLERY_HOME": tempfile.mkdtemp(prefix="distillery-home-")}


def distillery(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_console_script_is_installed():
    assert CLI.exists(), "pip install -e . should install the `distillery` console script"
    assert "verify" in distillery("--help").stdout


def test_verify_writes_every_record_back_in_order_with_the_contract_fields(tmp_path):
    rows = [
        {"id": "a", "thought_type": "pot", "text": "ans = 2 * 9", "gold": 18, "extra": {"keep": True}},
        {"id": "b", "thought_type": "eot", "text": "% x eggs, 3 eaten, 15 left\neggs = x\neggs - 3 = 15\nans = eggs",
         "gold": "18"},
        {"id": "c", "thought_type": "cot", "text": "9 + 9 = 18. The answer is 18.", "gold": 17},
        {"id": "d", "thought_type": "pot", "text": "ans = 1 / 0"},
        {"id": "e", "thought_type": "pot", "text": "import os\nans = 1", "gold": 1},
    ]
    out = tmp_path / "out.jsonl"
    result = distillery("verify", str(write_jsonl(tmp_path / "in.jsonl", rows)), "-o", str(out))
    assert result.returncode == 0, result.stderr
    written = read_jsonl(out)
    assert [r["id"] for r in written] == ["a", "b", "c", "d", "e"]
    for row, original in zip(written, rows):
        assert {k: row[k] for k in original} == original  # input fields untouched
        assert set(row) - set(original) == {"answer", "status", "correct", "error"}
    assert [r["status"] for r in written] == ["ok", "ok", "ok", "exec_error", "unsafe"]
    assert [r["answer"] for r in written] == [18.0, 18.0, 18.0, None, None]
    assert [r["correct"] for r in written] == [True, True, False, None, False]
    assert written[0]["error"] is None and "ZeroDivisionError" in written[3]["error"]
    # Summary on stderr: counts per status and accuracy.
    assert "accuracy        2/4 = 50.00%" in result.stderr
    assert "exec_error      1" in result.stderr


def test_json_summary(tmp_path):
    rows = [{"id": i, "thought_type": "pot", "text": f"ans = {i}", "gold": i % 2} for i in range(4)]
    result = distillery("verify", str(write_jsonl(tmp_path / "in.jsonl", rows)), "-o", str(tmp_path / "o.jsonl"),
                        "--json", "--workers", "1", "--timeout", "2")
    summary = json.loads(result.stdout)
    assert summary["total"] == 4 and summary["correct"] == 2 and summary["accuracy"] == 0.5
    assert summary["by_status"] == {"ok": 4}


@pytest.mark.parametrize("bad_line, fragment", [
    ("{not json", "not valid JSON"),
    ('["a", "list"]', "expected a JSON object"),
    ('{"id": 1, "thought_type": "sql", "text": "x"}', "thought_type"),
    ('{"id": 1, "thought_type": "pot"}', "text: Field required"),
    ('{"id": 1, "thought_type": "pot", "text": "ans=1", "gold": "lots"}', "gold"),
])
def test_malformed_line_fails_with_its_line_number_and_writes_nothing(tmp_path, bad_line, fragment):
    good = {"id": "ok", "thought_type": "pot", "text": "ans = 1"}
    source = write_jsonl(tmp_path / "in.jsonl", [good, "", bad_line, good])
    out = tmp_path / "out.jsonl"
    result = distillery("verify", str(source), "-o", str(out))
    assert result.returncode == 3  # ExitCode.INVALID
    assert "in.jsonl:3: " in result.stderr and fragment in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [source]  # no partial or temp file left behind


def test_skip_invalid_verifies_the_rest(tmp_path):
    good = {"id": "ok", "thought_type": "pot", "text": "ans = 1", "gold": 1}
    source = write_jsonl(tmp_path / "in.jsonl", [good, "{oops", good])
    out = tmp_path / "out.jsonl"
    result = distillery("verify", str(source), "-o", str(out), "--skip-invalid")
    assert result.returncode == 0
    assert "skipped: " in result.stderr and "in.jsonl:2" in result.stderr
    assert [r["correct"] for r in read_jsonl(out)] == [True, True]


def test_existing_output_survives_a_failed_run(tmp_path):
    out = write_jsonl(tmp_path / "out.jsonl", [{"previous": "result"}])
    source = write_jsonl(tmp_path / "in.jsonl", ["{broken"])
    assert distillery("verify", str(source), "-o", str(out)).returncode == 3
    assert read_jsonl(out) == [{"previous": "result"}]



def test_without_o_the_verified_records_go_to_stdout_and_the_summary_to_stderr(tmp_path):
    rows = [{"id": "a", "thought_type": "pot", "text": "ans = 6 * 7", "gold": 42},
            {"id": "b", "thought_type": "cot", "text": "The answer is 5.", "gold": 4}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    result = distillery("verify", str(source))
    assert result.returncode == 0, result.stderr
    assert [(r["id"], r["correct"]) for r in map(json.loads, result.stdout.splitlines())] == [("a", True), ("b", False)]
    assert "verified 2 thoughts -> stdout" in result.stderr
    assert list(tmp_path.iterdir()) == [source]  # no file named "-" or anything else
    dash = distillery("verify", str(source), "-o", "-")
    assert dash.returncode == 0 and dash.stdout == result.stdout
    assert distillery("verify", str(source), "--json").returncode == 2  # stdout cannot carry both

def test_timeout_option_applies(tmp_path):
    rows = [{"id": 1, "thought_type": "pot", "text": "while True:\n    pass"}]
    out = tmp_path / "o.jsonl"
    result = distillery("verify", str(write_jsonl(tmp_path / "in.jsonl", rows)), "-o", str(out), "--timeout", "0.5")
    assert result.returncode == 0
    row = read_jsonl(out)[0]
    assert row["status"] == "timeout" and "0.5" in row["error"]


def test_shipped_sample_runs(tmp_path):
    result = distillery("verify", str(REPO / "examples" / "thoughts.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["total"] == 13 and summary["by_status"]["ok"] >= 8
    import jsonschema

    jsonschema.validate(summary, json.loads((REPO / "docs" / "schemas" / "verify-summary.schema.json").read_text()))


def test_tolerance_options(tmp_path):
    rows = [{"id": 1, "thought_type": "pot", "text": "ans = 1005", "gold": 1000}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    for extra, expected in (((), False), (("--rel-tol", "0.01"), True), (("--abs-tol", "10"), True)):
        out = tmp_path / "o.jsonl"
        assert distillery("verify", str(source), "-o", str(out), *extra).returncode == 0
        assert read_jsonl(out)[0]["correct"] is expected


def test_verifier_serve_command_end_to_end(tmp_path):
    """`distillery verifier serve` as a process: port 0, token file, a real call, its Prometheus
    metrics, SIGTERM."""
    import signal

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from distillery.stack.s3server import free_port
    from tests.conftest import scrape_metrics

    tokens = tmp_path / "tokens"
    tokens.write_text("tok-1\n")
    metrics_port = free_port()
    server = subprocess.Popen([str(CLI), "verifier", "serve", "--port", "0", "--workers", "1", "--token-file",
                               str(tokens), "--metrics-port", str(metrics_port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        line = server.stdout.readline()
        assert line.startswith("verifier serving on 127.0.0.1:"), line + server.stderr.read()
        address = line.split()[-1]
        health = health_pb2_grpc.HealthStub(grpc.insecure_channel(address))
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        rows = [{"id": "a", "thought_type": "pot", "text": "ans = 7 * 6", "gold": 42}]
        out = tmp_path / "o.jsonl"
        remote = distillery("verify", str(write_jsonl(tmp_path / "in.jsonl", rows)), "-o", str(out),
                            "--address", address, "--token", "tok-1")
        assert remote.returncode == 0, remote.stderr
        assert read_jsonl(out)[0]["correct"] is True
        denied = distillery("verify", str(tmp_path / "in.jsonl"), "-o", str(out), "--address", address,
                            "--token", "forged")
        assert denied.returncode == 5  # ExitCode.DENIED
        assert denied.stderr.strip() == f"Error: verifier at {address}: UNAUTHENTICATED: invalid bearer token"
        tokenless = distillery("verify", str(tmp_path / "in.jsonl"), "-o", str(out), "--address", address)
        assert tokenless.returncode == 5 and "no token" in tokenless.stderr
        info = json.loads(distillery("verifier", "info", "--address", address, "--token", "tok-1", "--json").stdout)
        assert info["isolation"]["seccomp"] is True

        metrics = scrape_metrics(f"http://127.0.0.1:{metrics_port}/metrics")
        verifier_calls = {(labels["grpc_method"], labels["grpc_code"]): value
                          for labels, value in metrics["grpc_server_handled_total"]
                          if labels["grpc_service"] == "distillery.v1.VerifierService"}
        assert verifier_calls.get(("GetInfo", "OK")) == 1
        # The good call and the forged token's refused one, whichever verify method the CLI chose.
        assert sum(v for (method, code), v in verifier_calls.items() if code == "OK" and method != "GetInfo") == 1
        assert sum(v for (_, code), v in verifier_calls.items() if code == "UNAUTHENTICATED") == 1
        assert metrics["distillery_verifier_verdicts_total"] == [({"thought_type": "pot", "status": "ok"}, 1.0)]
        assert any(labels["grpc_method"] == "Check" for labels, _ in metrics["grpc_server_handled_total"])
        assert metrics["process_resident_memory_bytes"][0][1] > 0
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0



def test_a_thought_forging_its_verdict_is_only_its_own_failure(tmp_path):
    """Issue 14: a program that reaches `os` through an allowed module and writes its own
    "result" to the result pipe. Refused (`unsafe`); the other three thoughts are graded."""
    # Writes a forged result to every descriptor, then points them at /dev/null (fd 0) so
    # the runner's own report goes nowhere.
    forge = ("import fractions\nos = fractions.sys.modules['os']\n"
             "for fd in range(3, 20):\n    try:\n"
             "        os.write(fd, b'{\"status\":\"ok\",\"answer\":\"42\",\"error\":null,\"stdout\":\"\"}')\n"
             "        os.dup2(0, fd)\n    except Exception:\n        pass\nans = 7")
    rows = [
        {"id": 1, "thought_type": "pot", "text": "ans = 6 * 7", "gold": 42},
        {"id": 2, "thought_type": "pot", "text": forge, "gold": 42},
        {"id": 3, "thought_type": "eot", "text": "x = 40\nans = x + 2", "gold": 42},
        {"id": 4, "thought_type": "cot", "text": "40 + 2 = 42. The answer is 42.", "gold": 42},
    ]
    out = tmp_path / "out.jsonl"
    result = distillery("verify", str(write_jsonl(tmp_path / "in.jsonl", rows)), "-o", str(out), "--workers", "1")
    assert result.returncode == 0, result.stderr
    written = read_jsonl(out)
    assert [r["status"] for r in written] == ["ok", "unsafe", "ok", "ok"]
    assert [r["correct"] for r in written] == [True, False, True, True]
    assert written[1]["answer"] is None and "fractions.sys" in written[1]["error"]
