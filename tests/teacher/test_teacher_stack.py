"""The teacher service on the local stack: a job end to end, resume after a kill, errors."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.conftest import CLI, local_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory, shared_data):
    home = tmp_path_factory.mktemp("teacher-home")
    for env in local_stack(home, shared_data, "gsm8k-train", "svamp"):
        yield home, env


def generate(env, *args, ok=True):
    result = subprocess.run([str(CLI), "teacher", "generate", "--json", *args], env=env, capture_output=True,
                            text=True, timeout=600)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def pull_rows(env, ref, tmp_path) -> list[dict]:
    out = tmp_path / f"{ref.replace('/', '_').replace('@', '_')}.jsonl"
    subprocess.run([str(CLI), "registry", "pull", ref, "-o", str(out)], env=env, check=True, capture_output=True)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_annotations_job_end_to_end(stack, tmp_path):
    _, env = stack
    result = json.loads(generate(env, "--problems", "gsm8k-train@1", "--limit", "120", "--batch-size", "40",
                                 "--out", "etd-small").stdout)
    assert result["dataset"] == "default/etd-small@1" and result["rejected"] in (None, "default/etd-small-rejected@1")
    assert all(y >= 0.9 for y in result["yield_by_type"].values())
    rows = pull_rows(env, result["dataset"], tmp_path)
    assert len(rows) == sum(result["accepted"].values())
    row = rows[0]
    assert {"id", "thought_type", "text", "gold", "answer", "status", "correct", "problem_id", "question",
            "sample_index", "teacher"} <= set(row)
    assert row["correct"] is True and row["teacher"]["backend"] == "annotations"
    assert len(row["teacher"]["prompt_hash"]) == 64
    show = json.loads(subprocess.run([str(CLI), "registry", "show", "etd-small@1", "--json"], env=env,
                                     capture_output=True, text=True).stdout)
    assert show["lineage"]["parents"] == ["default/gsm8k-train@1"] and show["lineage"]["stage"] == "teacher"
    assert show["meta"]["dataset_kind"] == "ETD" and float(show["meta"]["yield_pot"]) >= 0.9
    # The same job again is the same dataset, not a new version.
    again = json.loads(generate(env, "--problems", "gsm8k-train@1", "--limit", "120", "--batch-size", "40",
                                "--out", "etd-small").stdout)
    assert again["dataset"] == "default/etd-small@1"


def test_single_type_job_is_eotd(stack, tmp_path):
    _, env = stack
    result = json.loads(generate(env, "--problems", "svamp@1", "--types", "eot", "--limit", "50",
                                 "--out", "eotd-svamp").stdout)
    rows = pull_rows(env, result["dataset"], tmp_path)
    assert {r["thought_type"] for r in rows} == {"eot"} and len(rows) >= 48


def test_killed_job_resumes_without_losing_or_duplicating(stack, tmp_path):
    home, env = stack
    args = ["--problems", "gsm8k-train@1", "--limit", "1500", "--batch-size", "25", "--types", "pot,eot"]
    client = subprocess.Popen([str(CLI), "teacher", "generate", "--json", *args, "--out", "resumable"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and done < 200:
        for state in (home / "teacher-jobs").rglob("state.json"):
            try:
                done = max(done, json.loads(state.read_text())["problems_done"])
            except (ValueError, KeyError):
                pass
        time.sleep(0.05)
    client.send_signal(signal.SIGKILL)
    client.wait()
    assert 200 <= done < 1500, done
    resumed = json.loads(generate(env, *args, "--out", "resumable").stdout)
    assert resumed["resumed_from"] >= 200
    reference = json.loads(generate(env, *args, "--out", "uninterrupted").stdout)
    assert reference["resumed_from"] == 0
    got = pull_rows(env, resumed["dataset"], tmp_path)
    expected = pull_rows(env, reference["dataset"], tmp_path)
    assert len(got) == len(expected) > 2800
    assert [(r["id"], r["text"]) for r in got] == [(r["id"], r["text"]) for r in expected]
    assert len({r["id"] for r in got}) == len(got)  # nothing twice


def test_bad_jobs_are_refused_clearly(stack):
    _, env = stack
    unavailable = generate(env, "--problems", "gsm8k-train@1", "--backend", "vllm", "--out", "x", ok=False)
    assert unavailable.returncode == 1 and "FAILED_PRECONDITION" in unavailable.stderr
    missing = generate(env, "--problems", "no-such-problems", "--out", "x", ok=False)
    assert "NOT_FOUND" in missing.stderr
    bad_type = generate(env, "--problems", "gsm8k-train@1", "--types", "sql", "--out", "x", ok=False)
    assert "INVALID_ARGUMENT" in bad_type.stderr and "thought_types" in bad_type.stderr
    stranger = generate({**env, "DISTILLERY_TOKEN": "dst_forged"}, "--problems", "gsm8k-train@1", "--out", "x",
                        ok=False)
    assert "UNAUTHENTICATED" in stranger.stderr
    # HTTP teachers are the operator's pools, by name; the local stack configures none by default.
    no_pool = generate(env, "--problems", "gsm8k-train@1", "--pool", "house", "--out", "x", ok=False)
    assert "INVALID_ARGUMENT" in no_pool.stderr and "no teacher pool 'house'" in no_pool.stderr
    own_url = generate(env, "--problems", "gsm8k-train@1", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m",
                       "--out", "x", ok=False)
    assert "PERMISSION_DENIED" in own_url.stderr and "endpoint" in own_url.stderr
