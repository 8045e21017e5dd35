"""Student example formatting and length bucketing (pure)."""

from distillery.trainer.formatting import IGNORE_INDEX, encode_example, length_buckets, padding_waste


def fake_encode(text: str) -> list[int]:
    return [ord(c) for c in text]  # one "token" per character: lengths are easy to reason about


def test_prompt_is_masked_and_eos_appended():
    ids, labels = encode_example("2+2?", "pot", "ans = 4", fake_encode, eos_id=0, max_length=200)
    prompt = "Question: 2+2?\nLet's break down the code step by step\n"
    assert ids == fake_encode(prompt) + fake_encode("ans = 4") + [0]
    assert labels == [IGNORE_INDEX] * len(prompt) + fake_encode("ans = 4") + [0]


def test_long_examples_are_cut_and_overlong_prompts_dropped():
    ids, labels = encode_example("q", "eot", "x" * 500, fake_encode, eos_id=0, max_length=100)
    assert len(ids) == len(labels) == 100
    assert encode_example("q" * 200, "eot", "x", fake_encode, eos_id=0, max_length=100) is None


def test_length_buckets_bound_tokens_and_keep_padding_low():
    lengths = [10, 200, 12, 190, 11, 205, 13, 195] * 10
    batches = length_buckets(lengths, max_tokens=1000)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(max(lengths[i] for i in b) * len(b) <= 1000 for b in batches)
    assert padding_waste(lengths, batches) < 0.10
