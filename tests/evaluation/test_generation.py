"""The HF engine on an encoder-decoder student (a tiny randomly initialised T5, nothing downloaded),
and registry models pulled once into the local cache."""

from __future__ import annotations

import grpc
import pytest

from distillery.student.generation import Decoding, HFGenerator, ThoughtTokenCaps, generate_samples, open_generator
from distillery.student.model_refs import ModelNotFound, resolve_student
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


def test_smollm2_samples_are_seeded_and_each_type_has_its_length_cap(smollm2):
    generator = HFGenerator(smollm2, max_new_tokens=10, batch_size=4, token_caps=ThoughtTokenCaps(pot=4))
    requests = [(QUESTION, "cot"), (QUESTION, "pot"), ("What is 2 + 2?", "eot")]
    sampled = generate_samples(generator, requests, samples=3, temperature=1.0, seed=7)
    assert len(sampled.thoughts) == 9 and sampled.seconds > 0  # request-major: 3 cot, 3 pot, 3 eot
    assert max(sampled.output_tokens[3:6]) <= 4 < max(sampled.output_tokens[:3] + sampled.output_tokens[6:])
    assert generate_samples(generator, requests, 3, temperature=1.0, seed=7).thoughts == sampled.thoughts
    assert generate_samples(generator, requests, 3, temperature=1.0, seed=8).thoughts != sampled.thoughts
    greedy = generator.generate(requests)
    assert greedy.output_tokens[1] <= 4 and len(greedy.thoughts) == 3
    # n greedy continuations are one continuation n times (the OpenAI routes' n with temperature 0).
    ids = generator.tokenizer("1, 2, 3,", add_special_tokens=False)["input_ids"]
    twice = generator.complete([ids], Decoding(max_new_tokens=3, n=2))
    assert len(twice) == 2 and twice[0] == twice[1]
    with pytest.raises(ValueError, match="temperature > 0"):
        generate_samples(generator, requests, 2, temperature=0)
    generator.close()


def test_hf_chunks_sort_by_length_within_rows_and_a_token_budget(tiny_t5):
    generator = HFGenerator(tiny_t5, max_new_tokens=8, batch_size=4)
    lengths = [30, 5, 12, 7, 200]
    # Shortest first; n=2 rows per prompt, so 2 prompts fill the 4 rows.
    assert generator.chunks(lengths, Decoding(max_new_tokens=8, n=2)) == [[1, 3], [2, 0], [4]]
    generator.batch_tokens = 100  # rows x (longest prompt + 8 new tokens)
    assert generator.chunks(lengths, Decoding(max_new_tokens=8)) == [[1, 3, 2], [0], [4]]  # 3 x 20; 2 x 38 > 100
    generator.close()


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
        with pytest.raises(ModelNotFound, match="evals/svamp@1 is a problems dataset, not a model"):
            resolve_student("svamp@1", registry)
    with RegistryClient(stack.registry, "dst_forged") as stranger, pytest.raises(grpc.RpcError) as refused:
        resolve_student("tiny-student", stranger)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
