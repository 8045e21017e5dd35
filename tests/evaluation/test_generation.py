"""The HF engine on an encoder-decoder student (a tiny randomly initialised T5, nothing downloaded),
and registry models pulled once into the local cache."""

from __future__ import annotations

import grpc
import pytest

from distillery.core.generation import HFGenerator, open_generator
from distillery.core.model_refs import ModelNotFound, resolve_student
from distillery.registry.client import RegistryClient, header

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"


def test_hf_engine_runs_an_encoder_decoder_student(tiny_t5):
    generator = open_generator(tiny_t5, backend="auto", max_new_tokens=6, batch_size=2)
    assert isinstance(generator, HFGenerator) and generator.encoder_decoder  # auto: vLLM has no seq2seq
    requests = [(QUESTION, "cot"), (QUESTION + " Then he eats one.", "pot"), ("What is 2 + 2?", "eot")]
    generated = generator.generate(requests)
    # The decoder output is all new text (nothing to slice off): 6 tokens each, none of the prompt.
    assert generated.output_tokens == [6, 6, 6] and generated.seconds > 0
    assert all(text and "Question:" not in text for text in generated.thoughts)
    # Batching and length-sorting do not change a greedy thought.
    assert generator.generate(requests[2:]).thoughts == generated.thoughts[2:]
    with pytest.raises(ValueError, match="causal models only"):
        open_generator(tiny_t5, backend="vllm")


def test_registry_model_pulled_once_and_reused(stack, tiny_t5, models_dir):
    with RegistryClient(stack.registry, stack.token) as registry:
        manifest = registry.push_files(header("tiny-student", "model", stage="train"), tiny_t5)
        student = resolve_student("tiny-student", registry)
        assert student.label == f"tiny-student@{manifest.version}" and student.registry_ref == manifest.ref
        # Content-addressed (a digest of the manifest's files): the path names no team or model.
        assert student.path.parent == models_dir / "cache" and student.path.name.startswith("sha256-")
        assert sorted(p.name for p in student.path.iterdir()) == sorted(p.name for p in tiny_t5.iterdir())
        assert not [p for p in student.path.parent.iterdir() if p.name.startswith(".")]  # no staging left
        stamp = (student.path / "config.json").stat().st_mtime_ns
        assert resolve_student(f"tiny-student@{manifest.version}", registry).path == student.path
        assert (student.path / "config.json").stat().st_mtime_ns == stamp  # reused, not pulled again
        with pytest.raises(ModelNotFound, match="not found"):
            resolve_student("no-such-student@1", registry)
        with pytest.raises(ModelNotFound, match="evals/svamp@1 is a problems, not a model"):
            resolve_student("svamp@1", registry)
    with RegistryClient(stack.registry, "dst_forged") as stranger, pytest.raises(grpc.RpcError) as refused:
        resolve_student("tiny-student", stranger)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
