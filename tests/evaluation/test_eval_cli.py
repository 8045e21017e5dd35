"""``distillery eval`` end to end: the real SmolLM2 on GSM8K test and SVAMP, every thought through
the verifier service, the results dataset in the registry with its lineage; a registry student;
clear one-line errors."""

from __future__ import annotations

import json

import pytest

from distillery.evaluation.scoring import ResultRow, score
from tests.published_schemas import validate_output

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
    validate_output(summary, "eval-summary")
    assert (summary["samples"], summary["temperature"]) == (0, None)  # every field, always: one shape
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


@pytest.mark.parametrize(("args", "message", "code"), [
    (["--model", "smollm2-135m-instruct", "--benchmarks", "gsm8k,math500"], "Error: unknown benchmark(s) math500;", 3),
    (["--model", "smollm2-135m-instruct", "--methods", "pot,sql"], "Error: unknown method(s) sql;", 3),
    (["--model", "no-such-student@3", "--benchmarks", "svamp"], "Error: model 'no-such-student@3' not found", 4),
    # no *model* by that name: not found (the registry's wrong-kind answer, as for an unknown model)
    (["--model", "svamp@1", "--benchmarks", "svamp"], "Error: evals/svamp@1 is a problems dataset, not a model", 4),
    (["--model", "smollm2-135m-instruct", "--benchmarks", "multiarith"],
     "Error: benchmark multiarith: no `multiarith` dataset in the registry; import it with", 3),
    (["--model", "smollm2-135m-instruct", "--token", "dst_forged"], "Error: registry: UNAUTHENTICATED:", 5),
])
def test_errors_are_one_clear_line(stack, args, message, code):
    """One line on stderr, nothing on stdout, and the code a script branches on (3 invalid input,
    4 not found, 5 denied: distillery.cli.exit_codes)."""
    result = stack.cli("eval", *args, "--limit", "1")
    assert result.returncode == code and result.stdout == "", result.stderr
    assert result.stderr.strip().startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_self_consistency_samples_are_generated_verified_and_scored(stack, smollm2, tmp_path):
    result = stack.cli("eval", "--model", "smollm2-135m-instruct", "--benchmarks", "svamp", "--limit", "1",
                       "--backend", "hf", "--max-new-tokens", "16", "--samples", "2", "--temperature", "0.9",
                       "--seed", "3", "--out", "sc-smollm2", "--json")
    assert result.returncode == 0, result.stderr
    assert "generating 3 thoughts (cot, pot, eot) for 1 problems with hf + 2 sampled each at temperature 0.9" \
        in result.stderr
    summary = json.loads(result.stdout)
    validate_output(summary, "eval-summary")
    assert (summary["samples"], summary["temperature"], summary["dataset"]) == (2, 0.9, "sc-smollm2@1")
    results = [ResultRow.model_validate(r) for r in summary["results"]]
    assert [r.method for r in results] == [
        "cot", "cot-maj@2", "cot-pass@2", "pot", "pot-maj@2", "pot-pass@2", "eot", "eot-maj@2", "eot-pass@2",
        "etd", "etd-fallback", "etd-maj@2", "oracle"]
    rows = pull_rows(stack, summary["dataset"], tmp_path)
    assert sorted((r["thought_type"], r["sample"]) for r in rows) == sorted(
        (t, s) for t in ("cot", "pot", "eot") for s in (-1, 0, 1))
    for row in rows:  # every sampled thought went through the verifier like the greedy ones
        assert row["status"] in STATUSES and isinstance(row["correct"], bool) and 0 < row["output_tokens"] <= 16
        assert row["id"] == f"{row['problem_id']}/{row['thought_type']}" + (
            f"/{row['sample']}" if row["sample"] >= 0 else "")
    assert score(rows, ["svamp"], ["cot", "pot", "eot", "etd"], samples=2) == results
    by_method = {r.method: r.correct for r in results}
    assert by_method["oracle"] == int(any(r["correct"] for r in rows))
    assert all(by_method[f"{t}-pass@2"] == int(any(r["correct"] for r in rows if r["thought_type"] == t
                                                   and r["sample"] >= 0)) for t in ("cot", "pot", "eot"))
    config = show(stack, summary["dataset"])["lineage"]["config"]
    assert (config["samples"], config["temperature"], config["seed"]) == (2, 0.9, 3)


# Generated elsewhere (the GPU entry point's file): two problems, greedy + 2 samples per type.
SCORED = [
    # gsm8k 7 (gold 10): greedy PoT crashes, EoT right, CoT wrong; PoT's samples both say 10.
    ("gsm8k", 7, 10, "pot", -1, "ans = 1 / 0"), ("gsm8k", 7, 10, "eot", -1, "a = 4\nans = a + 6"),
    ("gsm8k", 7, 10, "cot", -1, "The answer is 9."), ("gsm8k", 7, 10, "pot", 0, "```python\nans = 4 + 6\n```"),
    ("gsm8k", 7, 10, "pot", 1, "ans = 5 * 2\nQuestion: next one"), ("gsm8k", 7, 10, "eot", 0, "ans = 3"),
    ("gsm8k", 7, 10, "eot", 1, "ans = 3"), ("gsm8k", 7, 10, "cot", 0, "So 3. The answer is 3."),
    ("gsm8k", 7, 10, "cot", 1, "The answer is 10."),
    # svamp "s-1" (gold "1,200"): nothing executes but one CoT sample.
    *(("svamp", "s-1", "1,200", t, s, "ans = undefined_name") for t in ("pot", "eot") for s in (-1, 0, 1)),
    ("svamp", "s-1", "1,200", "cot", -1, "no idea"), ("svamp", "s-1", "1,200", "cot", 0, "no idea"),
    ("svamp", "s-1", "1,200", "cot", 1, "That makes 1200. The answer is 1,200."),
]


def test_score_grades_a_thoughts_file_with_the_verifier(stack, tmp_path):
    path = tmp_path / "thoughts.jsonl"
    path.write_text("".join(json.dumps({"benchmark": b, "id": i, "question": f"q{i}", "answer": gold,
                                        "thought_type": t, "sample": s, "text": text}) + "\n"
                            for b, i, gold, t, s, text in SCORED))
    result = stack.cli("eval", "--score", str(path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    validate_output(summary, "score-summary")
    assert (summary["samples"], summary["problems"], summary["thoughts"]) == (2, 2, 18)
    cells = {(r["benchmark"], r["method"]): r["correct"] for r in summary["results"]}
    assert [m for (b, m) in cells if b == "gsm8k"] == [
        "cot", "cot-maj@2", "cot-pass@2", "pot", "pot-maj@2", "pot-pass@2", "eot", "eot-maj@2", "eot-pass@2",
        "etd", "etd-fallback", "etd-maj@2", "oracle"]
    assert {m: c for (b, m), c in cells.items() if b == "gsm8k"} == {
        "cot": 0, "cot-maj@2": 0, "cot-pass@2": 1,  # CoT samples 3 vs 10: a tie, the earlier (3) wins
        "pot": 0, "pot-maj@2": 1, "pot-pass@2": 1,  # fenced and run-on PoT samples cut, then executed
        "eot": 1, "eot-maj@2": 0, "eot-pass@2": 0,
        "etd": 1, "etd-fallback": 1, "etd-maj@2": 1, "oracle": 1}  # samples: 10 x3 against 3 x3 -> PoT's 10
    assert {m: c for (b, m), c in cells.items() if b == "svamp"} == {
        m: (1 if m in ("cot-maj@2", "cot-pass@2", "etd-maj@2", "oracle") else 0) for (b, m) in cells if b == "svamp"}
    table = stack.cli("eval", "--score", str(path))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["benchmark", "cot", "cot-maj@2", "cot-pass@2"] and lines[0].split()[-1] == "oracle"
    assert lines[1].startswith("gsm8k ") and lines[2].startswith("svamp ")
    assert lines[3] == ("ETD: majority vote and fallback tie (vote 1/2, fallback 1/2); "
                        "self-consistency over 6 samples (etd-maj@2) 2/2")
    path.write_text(path.read_text() + json.dumps({"benchmark": "gsm8k", "id": 8, "question": "q", "answer": 1,
                                                   "thought_type": "sot", "sample": -1, "text": "x"}) + "\n")
    bad = stack.cli("eval", "--score", str(path))
    assert bad.returncode == 3 and bad.stdout == ""  # invalid input (distillery.cli.exit_codes)
    assert bad.stderr.strip() == f"Error: {path}:19: thought_type: Input should be 'pot', 'eot' or 'cot'", bad.stderr


def test_vllm_logs_go_to_a_file_and_ctrl_c_stops_cleanly(stack, smollm2, tmp_path):
    """vLLM's own INFO / WARNING lines go to the engine log, not stderr (they flooded `eval` and
    `jobs logs`); Ctrl-C mid-generation exits 130 with one line: no traceback, no leaked shared
    memory, no engine process left behind."""
    import signal
    import subprocess
    import time

    import psutil

    from tests.conftest import CLI

    command = [str(CLI), "eval", "--model", "smollm2-135m-instruct", "--benchmarks", "svamp", "--limit", "8",
               "--methods", "cot,pot,eot", "--backend", "vllm", "--max-new-tokens", "256"]
    process = subprocess.Popen(command, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    before = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # up to the first generation: the engine is built and logged
        line = process.stderr.readline()
        assert line, f"eval ended early ({process.wait()}): {''.join(before)}"
        before.append(line)
        if line.startswith("generating"):
            break
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGINT)
    out, rest = process.communicate(timeout=120)
    assert process.returncode == 130, rest
    engine_log = next(line.split(": ", 1)[1].strip() for line in before if line.startswith("engine log: "))
    logged = open(engine_log).read()
    assert " INFO vllm." in logged and "Resolved architecture" in logged  # the engine did log, there
    printed = "".join(before) + rest
    assert "vllm" not in printed.lower().replace("with vllm", "").replace(engine_log.lower(), ""), printed
    assert "Traceback" not in printed and "leaked" not in printed, printed
    assert rest.strip().splitlines()[-1] == "interrupted" and out == ""
    time.sleep(1)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
