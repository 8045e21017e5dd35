"""Student generation: one greedy thought per (question, thought type), as the student was trained,
and plain completions (any prompt, any sampling) for the serving layer's OpenAI routes.

The prompt is ``student_input(question, type)`` as raw text, tokenized without special tokens --
no chat template, no added BOS/EOS, exactly as the trainer encodes it. Generation is greedy and
stops at the tokenizer's EOS or at the next ``Question:``; the raw text is then cut by
``clean_thought`` like every other generator's.

Two engines behind one interface: ``generate(requests) -> Generated`` for thoughts, and
``complete(prompts, sampling) -> [Completion]`` underneath it for token-id prompts:

* :class:`HFGenerator` -- batched ``generate`` with transformers; causal LMs (left padding,
  the prompt sliced off) and encoder-decoder models (``AutoModelForSeq2SeqLM``).
* :class:`VLLMGenerator` -- the vLLM engine (continuous batching); causal LMs only. vLLM
  spawns worker processes, so whatever constructs it must sit behind a ``__main__`` guard.

``open_generator(model_dir, backend="auto")`` picks vLLM when it is importable and the model is
causal, HF otherwise.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from distillery.core.thought_text import clean_thought, student_input
from distillery.core.vllm_options import engine_options

STOP_STRING = "\nQuestion:"  # a student that goes on starts a new question
BACKENDS = ("auto", "hf", "vllm")


@dataclass(frozen=True)
class Sampling:
    """How to continue a prompt. Hashable: a batch of requests is split by equal sampling."""

    max_new_tokens: int = 320
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ()  # the text is cut before the first one; they end generation


def thought_sampling(max_new_tokens: int) -> Sampling:
    """Greedy, stopping where a student starts the next question: how thoughts are generated."""
    return Sampling(max_new_tokens=max_new_tokens, stop=(STOP_STRING,))


@dataclass(frozen=True)
class Completion:
    text: str  # without the stop string, as OpenAI returns it
    output_tokens: int  # EOS not counted
    finish_reason: str  # "stop" (EOS or a stop string) or "length"


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)


@dataclass(frozen=True)
class Generated:
    """Thoughts in request order, the tokens each took, and the wall-clock time of the whole call."""

    thoughts: list[str]
    output_tokens: list[int]
    seconds: float

    @property
    def tokens(self) -> int:
        return sum(self.output_tokens)


class StudentGenerator(Protocol):
    backend: str
    tokenizer: object
    max_new_tokens: int

    def generate(self, requests: Sequence[tuple[str, str]]) -> Generated:
        """``(question, thought_type)`` pairs -> one greedy thought each."""

    def complete(self, prompts: Sequence[Sequence[int]], sampling: Sampling) -> list[Completion]:
        """Token-id prompts -> one continuation each, in order."""

    def close(self) -> None: ...


def encode_prompts(tokenizer, requests: Sequence[tuple[str, str]]) -> list[list[int]]:
    """Token ids of each request's student prompt, encoded as the trainer encodes it."""
    prompts = [student_input(question, thought_type) for question, thought_type in requests]
    return tokenizer(prompts, add_special_tokens=False)["input_ids"]


def is_encoder_decoder(model_dir: str | Path) -> bool:
    from transformers import AutoConfig

    return bool(getattr(AutoConfig.from_pretrained(model_dir), "is_encoder_decoder", False))


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def choose_backend(backend: str, encoder_decoder: bool, has_vllm: bool) -> str:
    """``auto`` -> vLLM for a causal model when vLLM is installed, else HF. ValueError when impossible."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "auto":
        return "vllm" if has_vllm and not encoder_decoder else "hf"
    if backend == "vllm" and encoder_decoder:
        raise ValueError("the vllm backend runs causal models only; use --backend hf for an encoder-decoder model")
    if backend == "vllm" and not has_vllm:
        raise ValueError("vllm is not installed; use --backend hf")
    return backend


def open_generator(model_dir: str | Path, backend: str = "auto", max_new_tokens: int = 320,
                   batch_size: int = 16, max_model_len: int | None = None) -> StudentGenerator:
    """The student at ``model_dir`` (an HF checkpoint directory) behind the chosen engine."""
    chosen = choose_backend(backend, is_encoder_decoder(model_dir), vllm_available())
    if chosen == "vllm":
        return VLLMGenerator(model_dir, max_new_tokens, max_model_len)
    return HFGenerator(model_dir, max_new_tokens, batch_size)


def generate_thoughts(generator: StudentGenerator, requests: Sequence[tuple[str, str]]) -> Generated:
    """One greedy thought per request with ``generator.complete``, cut like every other thought."""
    started = time.perf_counter()
    prompts = encode_prompts(generator.tokenizer, requests)
    completions = generator.complete(prompts, thought_sampling(generator.max_new_tokens))
    return Generated(thoughts=[clean_thought(c.text, t) for c, (_, t) in zip(completions, requests)],
                     output_tokens=[c.output_tokens for c in completions], seconds=time.perf_counter() - started)


class HFGenerator:
    """Batched greedy ``generate``; batches hold prompts of similar length to waste little padding."""

    backend = "hf"

    def __init__(self, model_dir: str | Path, max_new_tokens: int = 320, batch_size: int = 16,
                 device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        self.encoder_decoder = is_encoder_decoder(model_dir)
        # Causal models continue the prompt, so pad on the left; an encoder reads it whole.
        side = "right" if self.encoder_decoder else "left"
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side=side)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        loader = AutoModelForSeq2SeqLM if self.encoder_decoder else AutoModelForCausalLM
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = loader.from_pretrained(model_dir, dtype=torch.float32).to(self.device).eval()
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self._torch = torch

    def generate(self, requests: Sequence[tuple[str, str]]) -> Generated:
        return generate_thoughts(self, requests)

    def complete(self, prompts: Sequence[Sequence[int]], sampling: Sampling) -> list[Completion]:
        """Each token-id prompt continued; batches hold prompts of similar length."""
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        completions: list[Completion | None] = [None] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for i, completion in zip(batch, self._complete_batch([list(prompts[i]) for i in batch], sampling)):
                completions[i] = completion
        return completions

    def _complete_batch(self, prompts: list[list[int]], sampling: Sampling) -> list[Completion]:
        tokenizer = self.tokenizer
        inputs = tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self.device)
        sample = sampling.temperature > 0
        with self._torch.no_grad():
            output = self.model.generate(
                **inputs, max_new_tokens=sampling.max_new_tokens, do_sample=sample,
                temperature=sampling.temperature if sample else None, top_p=sampling.top_p if sample else None,
                top_k=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                stop_strings=list(sampling.stop) or None, tokenizer=tokenizer,
            )
        # A decoder-only output repeats the prompt; an encoder-decoder one starts with the decoder start token.
        new_tokens = output[:, 1:] if self.encoder_decoder else output[:, inputs["input_ids"].shape[1]:]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        counts = ((new_tokens != tokenizer.pad_token_id) & (new_tokens != tokenizer.eos_token_id)).sum(dim=1).tolist()
        ended = (new_tokens == tokenizer.eos_token_id).any(dim=1).tolist()
        completions = []
        for text, count, eos in zip(texts, counts, ended):
            text, stopped = cut_at_stop(text, sampling.stop)
            finish = "stop" if eos or stopped or count < sampling.max_new_tokens else "length"
            completions.append(Completion(text=text, output_tokens=count, finish_reason=finish))
        return completions

    def close(self) -> None:
        self.model = None


class VLLMGenerator:
    """The vLLM engine, greedy; on CPU with the same options as the teacher's vLLM backend."""

    backend = "vllm"

    def __init__(self, model_dir: str | Path, max_new_tokens: int = 320, max_model_len: int | None = None) -> None:
        import torch
        from vllm import LLM

        # Room for a long question (GSM8K's longest is ~250 tokens) plus the thought.
        max_model_len = max_model_len or max_new_tokens + 1024
        self.engine = LLM(model=str(model_dir), max_model_len=max_model_len, seed=0,
                          **engine_options(torch.cuda.is_available()))
        self.tokenizer = self.engine.get_tokenizer()
        self.max_new_tokens = max_new_tokens

    def generate(self, requests: Sequence[tuple[str, str]]) -> Generated:
        return generate_thoughts(self, requests)

    def complete(self, prompts: Sequence[Sequence[int]], sampling: Sampling) -> list[Completion]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        eos = self.tokenizer.eos_token_id
        params = SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=sampling.max_new_tokens, stop=list(sampling.stop) or None,
                                stop_token_ids=[eos] if eos is not None else None)
        outputs = self.engine.generate([TokensPrompt(prompt_token_ids=list(ids)) for ids in prompts], params,
                                       use_tqdm=False)
        completions = []
        for output in outputs:
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            completions.append(Completion(text=completion.text,  # vLLM already cut the stop string
                                          output_tokens=len(ids) - (1 if ids and ids[-1] == eos else 0),
                                          finish_reason="length" if completion.finish_reason == "length" else "stop"))
        return completions

    def close(self) -> None:
        self.engine = None
