"""``distillery eval`` end to end: the real SmolLM2 on GSM8K test and SVAMP, every thought through
the verifier service, the results dataset in the registry with its lineage; a registry student;
clear one-line errors."""

from __future__ import annotations

import json

import pytest

from distillery.evaluation.scoring import ResultRow, score

STATUSES = {"ok", "no_answer", "parse_error", "exec_error", "timeout", "resource_limit", "unsafe"}
METHODS = ["cot", "pot", "eot", "etd", "etd-fallback"]


def pull_rows(stack, ref: str, tmp_path) -> list[dict]:
    out = tmp_path / "rows.jsonl"
    pulled = stack.cli("registry", "pull", ref, "-o", str(out))
    assert pulled.returncode == 0, pulled.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def show(stack, ref: str) -> dict:
    shown = stack.cli("registry", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_smollm2_on_two_benchmarks(stack, smollm2, tmp_path):
    result = stack.cli("eval", "--model", "smollm2-135m-instruct", "--benchmarks", "gsm8k,svamp", "--limit", "2",
                       "--backend", "hf", "--max-new-tokens", "64", "--batch-size", "12", "--json")
    assert result.returncode == 0, result.stderr
    assert "generating 12 thoughts (cot, pot, eot) for 4 problems with hf" in result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) == {"model", "results", "dataset"}
    assert summary["model"] == "smollm2-135m-instruct" and summary["dataset"] == "eval-smollm2-135m-instruct@1"
    results = [ResultRow.model_validate(r) for r in summary["results"]]
    assert [(r.benchmark, r.method) for r in results] == [(b, m) for b in ("gsm8k", "svamp") for m in METHODS]
    assert all(r.total == 2 and 0 <= r.correct <= 2 and r.accuracy == r.correct / 2 for r in results)

    rows = pull_rows(stack, summary["dataset"], tmp_path)
    assert len(rows) == 12  # 2 benchmarks x 2 problems x 3 thought types
    assert [(r["benchmark"], r["thought_type"]) for r in rows[:3]] == [("gsm8k", t) for t in ("cot", "pot", "eot")]
    assert {r["problem_id"] for r in rows} == {"gsm8k-test-0", "gsm8k-test-1", "svamp-chal-1", "svamp-chal-2"}
    for row in rows:
        assert {"id", "benchmark", "problem_id", "question", "gold", "thought_type", "text", "status", "answer",
                "correct", "error", "output_tokens"} <= set(row)
        assert row["status"] in STATUSES and isinstance(row["correct"], bool)
        assert (row["answer"] is not None) == (row["status"] == "ok")
        assert 0 < row["output_tokens"] <= 64 and row["text"]
    assert score(rows, ["gsm8k", "svamp"], ["cot", "pot", "eot", "etd"]) == results  # the table is the rows'

    manifest = show(stack, summary["dataset"])
    assert manifest["lineage"]["stage"] == "eval"
    assert manifest["lineage"]["parents"] == ["evals/gsm8k-test@1", "evals/svamp@1"]
    assert manifest["lineage"]["config"]["max_new_tokens"] == 64 and manifest["lineage"]["config"]["backend"] == "hf"
    assert manifest["counts_by_thought_type"] == {"cot": 4, "pot": 4, "eot": 4}


def test_registry_student_table_and_lineage(stack, tiny_t5, tmp_path):
    pushed = stack.cli("registry", "push", "t5-student", str(tiny_t5), "--kind", "model", "--stage", "train")
    assert pushed.returncode == 0, pushed.stderr
    model_ref = pushed.stdout.strip()
    result = stack.cli("eval", "--model", model_ref, "--benchmarks", "svamp", "--methods", "pot,etd", "--limit", "2",
                       "--max-new-tokens", "8", "--out", "t5-on-svamp")
    assert result.returncode == 0, result.stderr
    assert "with hf" in result.stderr  # auto: vLLM runs no encoder-decoder model
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["benchmark", "pot", "etd", "etd-fallback"]
    assert lines[1].split()[0] == "svamp" and lines[1].count("/2)") == 3
    assert lines[2].startswith("ETD: ")
    assert lines[-1] == "t5-on-svamp@1"
    manifest = show(stack, "t5-on-svamp@1")
    assert manifest["lineage"]["parents"] == [f"evals/{model_ref}", "evals/svamp@1"]
    assert manifest["meta"]["model"] == model_ref and manifest["rows"] == 6


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "smollm2-135m-instruct", "--benchmarks", "gsm8k,math500"], "Error: unknown benchmark(s) math500;"),
    (["--model", "smollm2-135m-instruct", "--methods", "pot,sql"], "Error: unknown method(s) sql;"),
    (["--model", "no-such-student@3", "--benchmarks", "svamp"], "Error: model 'no-such-student@3' not found"),
    (["--model", "svamp@1", "--benchmarks", "svamp"], "Error: evals/svamp@1 is a problems, not a model"),
    (["--model", "smollm2-135m-instruct", "--benchmarks", "multiarith"], "Error: benchmark multiarith: no `multiarith` dataset in the registry; import it with"),
    (["--model", "smollm2-135m-instruct", "--token", "dst_forged"], "Error: registry: UNAUTHENTICATED:"),
])
def test_errors_are_one_clear_line(stack, args, message):
    result = stack.cli("eval", *args, "--limit", "1")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr
