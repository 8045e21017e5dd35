"""The prepared GPU run, dry-run on CPU on a tiny slice: pack -> run.py -> grade, all real.

Packs the real SmolLM2 GGUF (xz pieces, fast preset), an in-process annotations-teacher job
on 4 GSM8K-train problems (the real sandboxed verifier), one problem of two benchmarks; runs
``benchmarks/gpu/run.py --device cpu`` (reassemble, convert, 2 training steps through the local
launcher, greedy + 1 sample per type; the GGUF is reassembled and checked, the conversion --
``core.models.convert_gguf`` -- is the one the ``smollm2`` fixture already ran); grades the thoughts with ``distillery eval --score``; and
measures training speed with ``benchmarks/trainer_gpu.py --random-init`` on the packed config,
as call 1 on the GPU does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLI, REPO

sys.path.insert(0, str(REPO / "benchmarks" / "gpu"))

from common import missing_on_device, sha256_file  # noqa: E402

MIB = 1 << 20
KEYS = {"benchmark", "id", "question", "answer", "thought_type", "sample", "text"}


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory, smollm2, models_dir, shared_data):
    root = tmp_path_factory.mktemp("gpu-run")
    env = {**os.environ, "DISTILLERY_MODELS": str(models_dir), "DISTILLERY_SHARED_DATA": str(shared_data),
           "DISTILLERY_HOME": str(root / "home"), "PYTHONUNBUFFERED": "1"}
    pack = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu/pack.py"), "--out", str(root / "pack"),
                           "--limit-train-problems", "4", "--limit-eval", "1", "--no-wheels", "--xz-preset", "0"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert pack.returncode == 0, pack.stderr[-3000:]
    run = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu/run.py"), "--pack", str(root / "pack"),
                          "--out", str(root / "out"), "--work", str(root / "work"), "--device", "cpu",
                          "--max-steps", "2", "--batch-tokens", "512", "--max-length", "256", "--limit-train", "8",
                          "--benchmarks", "gsm8k,svamp", "--samples", "1", "--max-new-tokens", "12",
                          "--no-base-eval", "--base", str(smollm2)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return root, env, pack.stdout


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pack_fits_the_device_calls(gpu_run):
    root, _, printed = gpu_run
    manifest = json.loads((root / "pack" / "p2" / "manifest.json").read_text())
    assert manifest == json.loads((root / "pack" / "p1" / "manifest.json").read_text())
    pieces = manifest["gguf"]["pieces"]
    assert len(pieces) >= 2 and pieces[0]["path"].startswith("p1/") and all(p["path"].startswith("p2/")
                                                                            for p in pieces[1:])
    for piece in pieces:
        assert piece["bytes"] < 60 * MIB and sha256_file(root / "pack" / piece["path"]) == piece["sha256"]
    for call in manifest["calls"].values():
        assert call["bytes"] < 64 * MIB
    train = rows_gz(root / "pack" / "p1" / "train.jsonl.gz")
    assert train and all(r["correct"] is True for r in train)  # verified thoughts only
    assert {r["thought_type"] for r in train} == {"cot", "pot", "eot"}
    assert manifest["train"]["source"]["kind"] == "teacher job in process"
    assert manifest["problems"]["by_benchmark"] == {"gsm8k": 1, "svamp": 1, "asdiv": 1, "multiarith": 1}
    assert '"carry": [' not in printed or "p1" in printed
    assert "run(carry=" in printed


def rows_gz(path: Path) -> list[dict]:
    import gzip

    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


def test_thoughts_and_metrics_are_written(gpu_run):
    root, _, _ = gpu_run
    out = root / "out"
    greedy, sampled = rows(out / "thoughts.jsonl"), rows(out / "samples.jsonl")
    assert len(greedy) == 6 and len(sampled) == 3  # 2 benchmarks x 3 types; gsm8k x 3 types x 1 sample
    for row in greedy + sampled:
        assert set(row) == KEYS
        assert isinstance(row["text"], str) and isinstance(row["answer"], float)
    assert {(r["benchmark"], r["thought_type"], r["sample"]) for r in greedy} == {
        (b, t, -1) for b in ("gsm8k", "svamp") for t in ("cot", "pot", "eot")}
    assert {(r["id"], r["sample"]) for r in sampled} == {("gsm8k-test-0", 0)}
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(phase["ok"] for phase in metrics["phases"].values()), metrics["phases"]
    train = metrics["train"]["etd"]
    assert train["steps"] == 2 and not train["cancelled_for_time"]
    assert train["curve"] and train["curve"][-1]["step"] == 2
    assert train["tokens"] > 0 and train["tokens_per_s"] > 0 and 0 < train["mfu"] < 1
    assert train["parameters"] > 100_000_000  # the real SmolLM2-135M
    assert metrics["generation"]["etd"]["thoughts"] == 9 and metrics["generation"]["etd"]["thoughts_per_s"] > 0
    assert metrics["skipped"] == []
    # Every package the run imported is on the GPU machine or travels as a wheel.
    from pack import WHEELS

    assert "pydantic" in metrics["imports"] and "torch" in metrics["imports"]
    missing = missing_on_device(metrics["imports"], WHEELS)
    assert missing == [], f"the GPU machine lacks {missing}: add them to pack.WHEELS"
    assert "log.txt" in os.listdir(out)


def test_returned_thoughts_grade_with_the_verifier(gpu_run):
    root, env, _ = gpu_run
    both = root / "all.jsonl"
    both.write_text((root / "out" / "thoughts.jsonl").read_text() + (root / "out" / "samples.jsonl").read_text())
    result = subprocess.run([str(CLI), "eval", "--score", str(both), "--json"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["thoughts"] == 9 and summary["problems"] == 2 and summary["samples"] == 1
    cells = {(r["benchmark"], r["method"]) for r in summary["results"]}
    assert {("gsm8k", t) for t in ("cot", "pot", "eot")} <= cells and ("svamp", "pot") in cells


def test_trainer_speed_benchmark_on_the_packed_config(gpu_run):
    root, env, _ = gpu_run
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/trainer_gpu.py"), "--random-init",
                             str(root / "pack" / "p1" / "base-config.tar.gz"), "--device", "cpu",
                             "--rows", str(root / "pack" / "p1" / "train.jsonl.gz"), "--steps", "2",
                             "--warmup-steps", "1", "--batch-tokens", "192", "--max-length", "128",
                             "--limit-rows", "24"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    (run,) = report["runs"]
    assert run["steps"] == 3 and run["measured_steps"] == 2
    assert run["tokens_per_s"] > 0 and 0 < run["mfu"] < 1
    assert report["parameters"] > 100_000_000 and "measured" in report["peak_source"]
