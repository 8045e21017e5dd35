"""Student examples: ``Question: {question}\\n{trigger}\\n`` -> thought + EOS, loss on the thought only.

Pure (no torch): token ids in, token ids and labels out. The triggers are DESIGN.md's, shared
with the teacher's prompts so that students are asked exactly the way they were trained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from distillery.student.thought_text import TRIGGERS, student_input

IGNORE_INDEX = -100  # labels the loss skips (PyTorch's cross-entropy default)

__all__ = ["IGNORE_INDEX", "TRIGGERS", "encode_example", "encode_seq2seq_example", "length_buckets", "padding_waste",
           "shuffled_batches", "student_input"]


def encode_example(question: str, thought_type: str, thought: str, encode: Callable[[str], list[int]],
                   eos_id: int, max_length: int) -> tuple[list[int], list[int]] | None:
    """``(input_ids, labels)``; labels mask the prompt. ``None`` when the prompt alone is too long."""
    prompt = encode(student_input(question, thought_type))
    target = encode(thought) + [eos_id]
    if len(prompt) >= max_length:
        return None
    target = target[: max_length - len(prompt)]
    return prompt + target, [IGNORE_INDEX] * len(prompt) + target


def length_buckets(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Batches of example indices with similar lengths, each at most ``max_tokens`` when padded.

    Sorting by length keeps padding waste small without packing several examples into one
    sequence (which would need attention masks across example boundaries).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        longest_if_added = max(longest, lengths[index])
        if current and longest_if_added * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest_if_added = [], lengths[index]
        current.append(index)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches


def padding_waste(lengths: Sequence[int], batches: list[list[int]]) -> float:
    """Share of the padded tokens that are padding."""
    padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)
    return 1 - sum(lengths) / padded if padded else 0.0


def encode_seq2seq_example(question: str, thought_type: str, thought: str, encode: Callable[[str], list[int]],
                           eos_id: int, max_length: int) -> tuple[list[int], list[int]] | None:
    """Encoder-decoder students (CodeT5, FLAN-T5): ``(encoder_ids, decoder_labels)``, both capped."""
    prompt = encode(student_input(question, thought_type))[:max_length]
    target = (encode(thought) + [eos_id])[:max_length]
    return (prompt, target) if prompt else None


def shuffled_batches(lengths: Sequence[int], max_tokens: int, seed: int) -> list[list[int]]:
    """Length buckets in a seeded random order: every rank and every restart sees the same plan."""
    import random

    batches = length_buckets(lengths, max_tokens)
    random.Random(seed).shuffle(batches)
    return batches
