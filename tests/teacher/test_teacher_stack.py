"""The teacher service on the local stack: a job end to end, resume after a kill, errors."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from distillery.registry.benchmarks import load_benchmark
from tests.conftest import CLI, local_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory, shared_data):
    home = tmp_path_factory.mktemp("teacher-home")
    for env in local_stack(home, shared_data):
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
    assert result["dataset"] == "default/etd-small@1" and result["rejected"] == "default/etd-small-rejected@1"
    assert all(y >= 0.9 for y in result["yield_by_type"].values())
    rows = pull_rows(env, result["dataset"], tmp_path)
    assert len(rows) == sum(result["accepted"].values())
    # OUT-rejected exists whether or not anything was rejected (here: perhaps nothing).
    assert len(pull_rows(env, result["rejected"], tmp_path)) == sum(result["rejected_by_type"].values())
    row = rows[0]
    assert {"id", "thought_type", "text", "gold", "answer", "status", "correct", "problem_id", "question",
            "sample_index", "teacher"} <= set(row)
    assert row["correct"] is True and row["teacher"]["backend"] == "annotations"
    assert len(row["teacher"]["prompt_hash"]) == 64
    show = json.loads(subprocess.run([str(CLI), "registry", "show", "etd-small@1", "--json"], env=env,
                                     capture_output=True, text=True).stdout)
    assert show["lineage"]["parents"] == ["public/gsm8k-train@1"] and show["lineage"]["stage"] == "teacher"
    assert show["meta"]["dataset_kind"] == "ETD" and float(show["meta"]["yield_pot"]) >= 0.9
    # The same job again is the same dataset, not a new version.
    again = json.loads(generate(env, "--problems", "gsm8k-train@1", "--limit", "120", "--batch-size", "40",
                                "--out", "etd-small").stdout)
    assert again["dataset"] == "default/etd-small@1"


def test_single_type_job_is_eotd(stack, tmp_path):
    _, env = stack
    # SVAMP is an evaluation set: the default contamination guard would refuse every problem.
    result = json.loads(generate(env, "--problems", "svamp@1", "--types", "eot", "--limit", "50", "--no-guard",
                                 "--out", "eotd-svamp").stdout)
    rows = pull_rows(env, result["dataset"], tmp_path)
    assert {r["thought_type"] for r in rows} == {"eot"} and len(rows) >= 48


def test_killed_job_resumes_without_losing_or_duplicating(stack, tmp_path):
    home, env = stack
    # With variants: the resumed job must also remake the same variants of the batches it redoes.
    args = ["--problems", "gsm8k-train@1", "--limit", "800", "--batch-size", "25", "--types", "pot,eot",
            "--variants", "1", "--seed", "7"]
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
    assert 200 <= done < 800, done
    resumed = json.loads(generate(env, *args, "--out", "resumable").stdout)
    assert resumed["resumed_from"] >= 200
    reference = json.loads(generate(env, *args, "--out", "uninterrupted").stdout)
    assert reference["resumed_from"] == 0
    got = pull_rows(env, resumed["dataset"], tmp_path)
    expected = pull_rows(env, reference["dataset"], tmp_path)
    assert len(got) == len(expected) > 2000
    assert [(r["id"], r["text"], r["question"]) for r in got] == [(r["id"], r["text"], r["question"])
                                                                   for r in expected]
    assert len({r["id"] for r in got}) == len(got)  # nothing twice
    assert sum("parent_id" in r for r in got) > 400 and resumed["variants_kept"] == reference["variants_kept"]
    assert pull_rows(env, resumed["variants"], tmp_path) == pull_rows(env, reference["variants"], tmp_path)


def test_variation_keeps_only_variants_whose_thoughts_all_verify(stack, tmp_path, shared_data):
    _, env = stack
    result = json.loads(generate(env, "--problems", "gsm8k-train@1", "--limit", "40", "--variants", "3",
                                 "--out", "etd-varied").stdout)
    rows = pull_rows(env, result["dataset"], tmp_path)
    variants = pull_rows(env, result["variants"], tmp_path)
    assert result["variants_kept"] == len(variants) >= 60 and result["variants_dropped"] >= 0
    by_variant: dict[str, list[dict]] = {}
    for row in rows:
        if "parent_id" in row:
            by_variant.setdefault(row["problem_id"], []).append(row)
    assert set(by_variant) == {v["id"] for v in variants}
    parents = {str(r["id"]): r for r in load_benchmark("gsm8k-train", shared_data).rows[:40]}
    for variant in variants:
        thoughts = by_variant[variant["id"]]
        assert sorted(t["thought_type"] for t in thoughts) == ["cot", "eot", "pot"]
        assert all(t["correct"] and t["gold"] == variant["answer"] for t in thoughts)
        parent = parents[variant["parent_id"]]
        assert variant["question"] != parent["question"] and variant["variation"]["numbers"]
        assert all(old in parent["question"] for old in variant["variation"]["numbers"])
    show = json.loads(subprocess.run([str(CLI), "registry", "show", result["variants"], "--json"], env=env,
                                     capture_output=True, text=True).stdout)
    assert show["kind"] == "KIND_PROBLEMS" and show["lineage"]["parents"] == ["public/gsm8k-train@1"]
    # The kept variants are a problems source like any other: a PoT-only job on them.
    again = json.loads(generate(env, "--problems", result["variants"], "--types", "pot", "--out", "pot-of-variants").stdout)
    assert again["yield_by_type"]["pot"] >= 0.95


def test_contamination_guard_refuses_planted_benchmark_questions(stack, tmp_path, shared_data):
    _, env = stack
    train = load_benchmark("gsm8k-train", shared_data).rows[:20]
    test = load_benchmark("gsm8k-test", shared_data).rows[:3]
    svamp = load_benchmark("svamp", shared_data).rows[:1]
    renumbered = {**test[1], "id": "planted-renumbered",
                  "question": re.sub(r"\d+", lambda m: str(int(m.group(0)) + 3), test[1]["question"])}
    planted = [*train[:10], *test, renumbered, *svamp, *train[10:]]
    path = tmp_path / "planted.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in planted))
    subprocess.run([str(CLI), "registry", "push", "planted", str(path), "--kind", "problems"], env=env,
                   check=True, capture_output=True)
    result = json.loads(generate(env, "--problems", "planted", "--variants", "2", "--out", "guarded").stdout)
    assert result["contaminated"] == 5
    emitted = {row["question"] for row in pull_rows(env, result["dataset"], tmp_path)}
    assert not emitted & {row["question"] for row in [*test, renumbered, *svamp]}
    assert {row["question"] for row in train} <= emitted
    unguarded = json.loads(generate(env, "--problems", "planted", "--no-guard", "--out", "unguarded").stdout)
    assert unguarded["contaminated"] == 0


def test_bad_jobs_are_refused_clearly(stack):
    _, env = stack
    # The job's own rules are checked before anything is sent (the service checks them again).
    no_model = generate(env, "--problems", "gsm8k-train@1", "--backend", "vllm", "--out", "x", ok=False)
    assert no_model.returncode == 2 and "model: backend 'vllm' needs `model`" in no_model.stderr
    missing = generate(env, "--problems", "no-such-problems", "--out", "x", ok=False)
    assert "NOT_FOUND" in missing.stderr
    bad_type = generate(env, "--problems", "gsm8k-train@1", "--types", "sql", "--out", "x", ok=False)
    assert bad_type.returncode == 2 and "thought_types" in bad_type.stderr
    stranger = generate({**env, "DISTILLERY_TOKEN": "dst_forged"}, "--problems", "gsm8k-train@1", "--out", "x",
                        ok=False)
    assert "UNAUTHENTICATED" in stranger.stderr
    # HTTP teachers are the operator's pools, by name; the local stack configures none by default.
    no_pool = generate(env, "--problems", "gsm8k-train@1", "--pool", "house", "--out", "x", ok=False)
    assert "INVALID_ARGUMENT" in no_pool.stderr and "no teacher pool 'house'" in no_pool.stderr
    own_url = generate(env, "--problems", "gsm8k-train@1", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m",
                       "--out", "x", ok=False)
    assert "PERMISSION_DENIED" in own_url.stderr and "endpoint" in own_url.stderr
