"""The local launcher: the training core in one process with the real SmolLM2 on CPU.

Cancel, resume, a refused foreign run directory, and memory: an out-of-memory step ends with
the knob named, and the auto-sized batch fits where a fixed one does not (``ulimit -v`` is a
real limit the process's allocator hits).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from distillery.student.models import resolve_model
from distillery.trainer.trainer_config import TrainerConfig
from distillery.trainer.local import train_local


def rows(count: int = 12) -> list[dict]:
    texts = {"pot": "apples = {a}\nbought = {b}\nans = apples + bought",
             "eot": "% Tom has {a} apples and buys {b} more.\ntotal = {a} + {b}",
             "cot": "Tom has {a} apples and buys {b} more, so he has {a} + {b} = {c}. The answer is {c}."}
    return [{"question": f"Tom has {a} apples and buys {a + 1} more. How many apples does he have?",
             "thought_type": kind, "text": text.format(a=a, b=a + 1, c=2 * a + 1), "correct": True}
            for a in range(count) for kind, text in texts.items()]


@pytest.fixture(scope="module")
def base_dir():
    return resolve_model("smollm2-135m-instruct")


def config(**changes) -> TrainerConfig:
    return TrainerConfig(**{"dataset": "etd@1", "out": "student", "max_steps": 3, "checkpoint_every": 1,
                          "learning_rate": 1e-3, "batch_tokens": 256, "max_length": 96, **changes})


def test_cancel_checkpoints_and_the_same_job_resumes_to_the_same_model(base_dir, tmp_path):
    # Asked to stop from the start: the core stops at the first step boundary, after a checkpoint.
    first = train_local(config(), rows(), base_dir, tmp_path / "run", should_stop=lambda: True)
    assert first.cancelled and first.steps == 1 and first.model_dir is None
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-00000001"]

    resumed_events = []
    second = train_local(config(), rows(), base_dir, tmp_path / "run", on_event=resumed_events.append)
    start = next(e for e in resumed_events if e["kind"] == "start")
    assert start["resumed_from"] == 1 and start["batch_tokens"] == 256 and start["batch_tokens_source"] == "config"
    assert second.steps == 3 and not second.cancelled
    card = json.loads((second.model_dir / "distillery-student.json").read_text())
    assert card["recipe"] == "etd" and (second.model_dir / "model.safetensors").exists()
    # keep_checkpoints (2): older ones are gone, nothing half-written is visible.
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-00000002", "step-00000003"]

    # The run directory is this job's: another job there is refused, not mixed in.
    with pytest.raises(ValueError, match="holds another training job"):
        train_local(config(learning_rate=5e-4), rows(), base_dir, tmp_path / "run")


def test_a_cancel_is_never_resumed_and_a_cancel_at_the_last_step_is_the_end(base_dir, tmp_path):
    """A job whose every run is cancelled at once still finishes: each run stops at its first step
    boundary after a checkpoint, the next resumes there, and at the last step the cancel is moot."""
    always_stop = lambda: True  # noqa: E731 - Ctrl-C before every run
    runs = [train_local(config(), rows(), base_dir, tmp_path / "run", should_stop=always_stop) for _ in range(3)]
    assert [(run.steps, run.cancelled) for run in runs] == [(1, True), (2, True), (3, False)]
    assert runs[-1].model_dir is not None and (runs[-1].model_dir / "model.safetensors").exists()
    for checkpoint in (tmp_path / "run" / "checkpoints").iterdir():
        metrics = json.loads((checkpoint / "metrics.json").read_text())
        # What the checkpoint is (its step, whether it is the final one), never why it was written.
        assert "cancelled" not in metrics and metrics["final"] == (metrics["step"] == 3), metrics


MEMORY_PROBE = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    from distillery.trainer.trainer_config import TrainerConfig
    from distillery.trainer.local import train_local
    from distillery.trainer.memory import TrainingOutOfMemory, free_memory
    import torch

    base, out, batch_tokens = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    long_text = " ".join(f"step {i}: {i} + {i} = {2 * i}." for i in range(120))
    rows = [{"question": f"Question {i}?", "thought_type": "cot", "text": long_text} for i in range(40)]
    # Leave this process 5 GiB of address space beyond what it maps now: a real allocator limit.
    status = Path("/proc/self/status").read_text()
    mapped = int(next(l for l in status.splitlines() if l.startswith("VmSize:")).split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mapped + (5 << 30), resource.RLIM_INFINITY))
    config = TrainerConfig(dataset="etd@1", out="s", max_steps=1, max_length=512, thought_types="cotd",
                         batch_tokens=None if batch_tokens == "auto" else int(batch_tokens))
    events = []
    try:
        run = train_local(config, rows, Path(base), out, device="cpu", on_event=events.append)
        print(json.dumps({"steps": run.steps, "start": next(e for e in events if e["kind"] == "start")}))
    except TrainingOutOfMemory as exc:
        print(json.dumps({"error": str(exc)}))
""")


def probe(base_dir, out, batch_tokens: str) -> dict:
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(base_dir), str(out), batch_tokens],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_out_of_memory_names_the_knob_and_the_auto_batch_fits(base_dir, tmp_path):
    fixed = probe(base_dir, tmp_path / "fixed", "8192")  # the old default: ~17 GiB for SmolLM2
    assert "error" in fixed, fixed
    assert "--batch-tokens" in fixed["error"] and "GiB free" in fixed["error"] and "8192 tokens" in fixed["error"]

    auto = probe(base_dir, tmp_path / "auto", "auto")
    assert auto.get("steps") == 1, auto
    start = auto["start"]
    assert start["batch_tokens_source"].startswith("auto") and 512 <= start["batch_tokens"] < 8192
    assert start["memory_gib"] < 5.5  # it saw the limit, not the machine's free memory
