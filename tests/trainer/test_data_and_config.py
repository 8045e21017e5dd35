"""The trainer's pure parts: streaming shards, job configs, and how worker events fold into a job."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from distillery.trainer.trainer_config import TrainerConfig
from distillery.trainer.data import InvalidRow, parse_lines, training_rows
from distillery.trainer.job_manager import apply_event
from distillery.trainer.job_records import TrainingJob


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


ROWS = [{"question": f"q{i}", "thought_type": ("cot", "pot", "eot")[i % 3], "text": f"t{i}",
         "correct": i % 5 != 4} for i in range(30)]


def test_lines_survive_any_chunking():
    data = jsonl(ROWS)
    for size in (1, 7, 64, len(data)):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        assert [row for _, row in parse_lines(chunks)] == ROWS


def test_a_bad_line_is_named():
    with pytest.raises(InvalidRow, match="line 2: not JSON"):
        list(parse_lines([b'{"a": 1}\n{oops\n']))
    with pytest.raises(InvalidRow, match="line 1: missing or non-string field.*text"):
        list(training_rows(parse_lines([b'{"question": "q", "thought_type": "cot"}\n']), ("cot",)))


def test_shards_are_disjoint_balanced_and_verified_only():
    wanted = [r for r in ROWS if r["correct"] and r["thought_type"] in ("pot", "eot")]
    shards = [list(training_rows(parse_lines([jsonl(ROWS)]), ("pot", "eot"), rank, 3)) for rank in range(3)]
    assert sorted((r["question"] for s in shards for r in s), key=lambda q: int(q[1:])) == [r["question"] for r in wanted]
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert all(r["correct"] for s in shards for r in s)


def test_recipes_and_validation():
    assert TrainerConfig(dataset="d@1", out="m", thought_types="eotd").thought_types == ("eot",)
    assert TrainerConfig(dataset="d@1", out="m", thought_types="etd").recipe == "etd"
    assert TrainerConfig(dataset="d@1", out="m", thought_types="eot,cot").thought_types == ("cot", "eot")
    with pytest.raises(ValidationError, match="thought types must be some of"):
        TrainerConfig(dataset="d@1", out="m", thought_types="xot")
    with pytest.raises(ValidationError, match="extra"):
        TrainerConfig(dataset="d@1", out="m", learning_rat=1e-3)


def test_run_key_names_the_job_not_the_cluster_shape():
    config = TrainerConfig(dataset="d@1", out="m", max_steps=10)
    assert config.run_key() == config.model_copy(update={"workers": 8, "max_failures": 0}).run_key()
    assert config.run_key() != config.model_copy(update={"learning_rate": 1e-3}).run_key()
    assert config.run_key() != TrainerConfig(dataset="d@2", out="m", max_steps=10).run_key()


def test_events_fold_into_the_job_view():
    job = TrainingJob(id="j", team="t", config=TrainerConfig(dataset="d@1", out="m"), token="x")
    apply_event(job, {"kind": "worker", "rank": 0, "pid": 10, "node": "n", "resumed_from": 0})
    apply_event(job, {"kind": "start", "resumed_from": 0, "total_steps": 9, "padding_waste": 0.05,
                      "examples_per_worker": 4})
    for step, loss in ((1, 2.0), (2, 1.5)):
        apply_event(job, {"kind": "metrics", "step": step, "total_steps": 9, "epoch": 0.1, "loss": loss,
                          "learning_rate": 1e-4, "tokens_per_s": 10.0, "tokens_per_s_per_worker_compute": 5.0})
    apply_event(job, {"kind": "checkpoint", "step": 3})
    apply_event(job, {"kind": "worker", "rank": 0, "pid": 11, "node": "n", "resumed_from": 3})
    apply_event(job, {"kind": "start", "resumed_from": 3, "total_steps": 9, "padding_waste": 0.05,
                      "examples_per_worker": 4})
    assert job.metrics["first_loss"] == 2.0 and job.metrics["loss"] == 1.5
    assert (job.restarts, job.resumed_from, job.last_checkpoint) == (1, 3, 3)


def test_a_worker_killed_for_memory_is_told_with_the_knob_and_what_it_saw():
    import ray.exceptions

    from distillery.trainer.job_manager import _describe

    metrics = {"batch_tokens": 8192, "batch_tokens_source": "config", "memory_gib": 10.5}
    try:
        try:
            raise ray.exceptions.OutOfMemoryError("Task was killed due to the node running low on memory.")
        except ray.exceptions.OutOfMemoryError as inner:
            raise RuntimeError("Training worker group failed") from inner
    except RuntimeError as wrapped:
        message = _describe(wrapped, metrics)
    assert "8192 tokens per batch" in message and "10.5 GiB" in message and "--batch-tokens" in message
    assert _describe(ValueError("line 3: bad row"), metrics) == "line 3: bad row"
    # A wrapped error whose text ends in punctuation keeps its last meaningful line.
    assert _describe(RuntimeError("worker died:\nValueError: no training examples\n  >\n"), metrics) == \
        "ValueError: no training examples"


def test_the_batch_is_sized_from_free_memory_unless_set():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from distillery.trainer.memory import bytes_per_token, choose_batch_tokens

    model = LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, vocab_size=1000))
    cpu = torch.device("cpu")
    assert choose_batch_tokens(TrainerConfig(dataset="d@1", out="m", batch_tokens=777), model, cpu).tokens == 777
    one = choose_batch_tokens(TrainerConfig(dataset="d@1", out="m"), model, cpu, workers_sharing=1)
    many = choose_batch_tokens(TrainerConfig(dataset="d@1", out="m"), model, cpu, workers_sharing=4096)
    assert one.source.startswith("auto") and one.tokens % 512 == 0 and 256 <= one.tokens <= 8192
    assert many.tokens <= one.tokens and many.free_bytes < one.free_bytes  # workers split the memory
    assert bytes_per_token(model) == 4 * (2 * 64 * 18 + 1000 * 5)


def test_a_job_record_round_trips_without_its_token_and_an_unfinished_one_is_failed_on_restore():
    from distillery.trainer.job_records import from_record, interrupted, to_record

    job = TrainingJob(id="train-1", team="alpha", config=TrainerConfig(dataset="alpha/etd@1", out="s", max_steps=4),
                      token="secret", state="running", last_checkpoint=2, metrics={"step": 3, "loss": 1.5},
                      workers={0: {"rank": 0, "pid": 7, "node": "n", "resumed_from": 0}})
    record = json.loads(json.dumps(to_record(job)))  # as stored: JSON
    assert "secret" not in json.dumps(record) and "monitor" not in record
    back = from_record(record)
    assert (back.id, back.team, back.config, back.metrics, back.workers, back.token) == \
        ("train-1", "alpha", job.config, job.metrics, job.workers, "")
    failed = interrupted(back, now=10.0)
    assert failed.state == "failed" and failed.finished_at == 10.0
    assert "submit the same job again to resume from its last checkpoint (step 2)" in failed.error
    assert from_record({**record, "field_of_a_later_version": 1}).id == "train-1"  # tolerant of newer records
