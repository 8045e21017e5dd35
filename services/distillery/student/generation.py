"""Student generation: thoughts per (question, thought type) -- one greedy, or K sampled -- as the
student was trained, and plain completions (any prompt, any sampling) for the serving layer's OpenAI routes.

The prompt is ``student_input(question, type)`` as raw text, tokenized without special tokens --
no chat template, no added BOS/EOS, exactly as the trainer encodes it. Generation stops at the
tokenizer's EOS (the token the trainer appends to every thought) or at the next ``Question:``,
and at a per-type length cap (:class:`ThoughtTokenCaps`: CoT and PoT are shorter than EoT); the
raw text is then cut by ``clean_thought`` like every other generator's.

Two engines behind one interface: ``generate(requests) -> Generated`` for greedy thoughts,
:func:`generate_samples` for K sampled ones each, and ``complete(prompts, sampling) ->
[Completion]`` underneath both for token-id prompts (``sampling.n`` continuations per prompt):

* :class:`HFGenerator` -- batched ``generate`` with transformers: every request at once, sorted
  by prompt length and cut into chunks by a token budget (rows x (longest prompt + new tokens));
  causal LMs (left padding, the prompt sliced off) and encoder-decoder models
  (``AutoModelForSeq2SeqLM``). K samples per prompt via ``num_return_sequences``.
* :class:`VLLMGenerator` -- the vLLM engine (continuous batching); causal LMs only; K samples
  via ``SamplingParams(n=K)``. vLLM spawns worker processes, so whatever constructs it must sit
  behind a ``__main__`` guard.

``open_generator(model_dir, backend="auto")`` picks vLLM when it is importable and the model is
causal, HF otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from distillery.student.engine_logs import engine_output_to, route_engine_logs
from distillery.student.thought_text import STOP, clean_thought, cut_at_stop, student_input
from distillery.student.vllm_options import (default_max_model_len, engine_options, finish_reason,
                                              generated_tokens, sampling_params)

BACKENDS = ("auto", "hf", "vllm")


class ThoughtTokenCaps(BaseModel):
    """Most new tokens per thought type (the generator's ``max_new_tokens`` caps them all).

    From data: the annotations teacher's v2 thoughts on GSM8K train (7,167 per type), in SmolLM2
    tokens + EOS, reach p99.9 / max of CoT 280 / 338, PoT 185 / 234, EoT 298 / 380. A thought
    longer than its cap is almost surely a student that lost its way; generating it out costs
    the whole batch those steps (a batch runs until its longest row ends).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cot: int = Field(288, ge=1, le=8192)
    pot: int = Field(192, ge=1, le=8192)
    eot: int = Field(320, ge=1, le=8192)

    def cap(self, thought_type: str, ceiling: int) -> int:
        return min(getattr(self, thought_type), ceiling)


@dataclass(frozen=True)
class Decoding:
    """How the student engine continues a prompt (an engine call's arguments, like vLLM's
    ``SamplingParams``). Not a teacher job's ``distillery.teacher.config.Sampling``: greedy by
    default, with stop strings and ``n``. Hashable: a batch of requests is split by equal params."""

    max_new_tokens: int = 320
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ()  # the text is cut before the first one; they end generation
    n: int = 1  # continuations per prompt
    seed: int | None = None  # sampling only: the same seed and the same call give the same samples


def thought_sampling(max_new_tokens: int) -> Decoding:
    """Greedy, stopping where a student starts the next question (:data:`STOP`): how thoughts are generated."""
    return Decoding(max_new_tokens=max_new_tokens, stop=STOP)


@dataclass(frozen=True)
class Completion:
    text: str  # without the stop string, as OpenAI returns it
    output_tokens: int  # EOS not counted
    finish_reason: str  # "stop" (EOS or a stop string) or "length"


@dataclass(frozen=True)
class Generated:
    """Thoughts in request order (for samples: request-major, K per request), the tokens each took,
    and the wall-clock time of the whole call."""

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
    token_caps: ThoughtTokenCaps

    def generate(self, requests: Sequence[tuple[str, str]]) -> Generated:
        """``(question, thought_type)`` pairs -> one greedy thought each."""

    def complete(self, prompts: Sequence[Sequence[int]], sampling: Decoding) -> list[Completion]:
        """Token-id prompts -> ``sampling.n`` continuations each, prompt-major, in order."""

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
                   batch_size: int = 16, max_model_len: int | None = None, batch_tokens: int | None = None,
                   token_caps: ThoughtTokenCaps | None = None) -> StudentGenerator:
    """The student at ``model_dir`` (an HF checkpoint directory) behind the chosen engine.

    ``batch_size`` / ``batch_tokens``: the HF engine's most rows, and most padded tokens (rows x
    (longest prompt + new tokens)), per ``generate`` call; vLLM schedules its own batches."""
    chosen = choose_backend(backend, is_encoder_decoder(model_dir), vllm_available())
    if chosen == "vllm":
        return VLLMGenerator(model_dir, max_new_tokens, max_model_len, token_caps=token_caps)
    return HFGenerator(model_dir, max_new_tokens, batch_size, batch_tokens=batch_tokens, token_caps=token_caps)


def _by_type_calls(generator: StudentGenerator, requests: Sequence[tuple[str, str]],
                   sampling: Decoding) -> list[Completion]:
    """``sampling`` for every request, with each thought type's own length cap: one engine call
    per type (a batch then ends at its type's cap, not the longest type's)."""
    prompts = encode_prompts(generator.tokenizer, requests)
    completions: list[Completion | None] = [None] * (len(requests) * sampling.n)
    by_type: dict[str, list[int]] = {}
    for i, (_, thought_type) in enumerate(requests):
        by_type.setdefault(thought_type, []).append(i)
    for thought_type, indices in by_type.items():
        capped = replace(sampling, max_new_tokens=generator.token_caps.cap(thought_type, sampling.max_new_tokens))
        results = generator.complete([prompts[i] for i in indices], capped)
        for k, i in enumerate(indices):
            completions[i * sampling.n:(i + 1) * sampling.n] = results[k * sampling.n:(k + 1) * sampling.n]
    return completions


def generate_thoughts(generator: StudentGenerator, requests: Sequence[tuple[str, str]]) -> Generated:
    """One greedy thought per request with ``generator.complete``, cut like every other thought."""
    started = time.perf_counter()
    completions = _by_type_calls(generator, requests, thought_sampling(generator.max_new_tokens))
    return Generated(thoughts=[clean_thought(c.text, t) for c, (_, t) in zip(completions, requests)],
                     output_tokens=[c.output_tokens for c in completions], seconds=time.perf_counter() - started)


def generate_samples(generator: StudentGenerator, requests: Sequence[tuple[str, str]], samples: int,
                     temperature: float = 0.7, seed: int | None = 0, top_p: float = 1.0) -> Generated:
    """``samples`` sampled thoughts per request (request-major: request i's are at ``i*K .. i*K+K-1``)."""
    if samples < 1 or temperature <= 0:
        raise ValueError(f"sampling needs samples >= 1 and temperature > 0 (got {samples}, {temperature})")
    started = time.perf_counter()
    sampling = replace(thought_sampling(generator.max_new_tokens), temperature=temperature, top_p=top_p,
                       n=samples, seed=seed)
    completions = _by_type_calls(generator, requests, sampling)
    types = [t for _, t in requests for _ in range(samples)]
    return Generated(thoughts=[clean_thought(c.text, t) for c, t in zip(completions, types)],
                     output_tokens=[c.output_tokens for c in completions], seconds=time.perf_counter() - started)


class HFGenerator:
    """Batched ``generate``: every request at once, sorted by prompt length (little padding), cut
    into chunks of at most ``batch_size`` rows and ``batch_tokens`` padded tokens.

    No static KV cache / ``torch.compile`` (yet): each chunk has its own (rows, prompt length)
    shape, so a compiled decode step recompiles per chunk unless every chunk is padded to one
    bucket shape; and on this project's 2-core CPU a static cache alone was measured 11% slower than
    the dynamic one (16 prompts x 96 tokens: 24.6 vs 27.6 tokens/s, identical tokens). On a GPU a 135M model's decode step is launch-bound: large
    chunks (``batch_size`` / ``batch_tokens`` in the hundreds of rows) are the first lever there;
    CUDA graphs over a static cache the next one, to be measured on the device.
    """

    backend = "hf"

    def __init__(self, model_dir: str | Path, max_new_tokens: int = 320, batch_size: int = 16,
                 device: str | None = None, batch_tokens: int | None = None,
                 token_caps: ThoughtTokenCaps | None = None) -> None:
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
        self.batch_tokens = batch_tokens
        self.token_caps = token_caps or ThoughtTokenCaps()
        self._torch = torch

    def generate(self, requests: Sequence[tuple[str, str]]) -> Generated:
        return generate_thoughts(self, requests)

    def chunks(self, lengths: Sequence[int], sampling: Decoding) -> list[list[int]]:
        """Prompt indices, shortest first, cut so a chunk's rows (``n`` per prompt) stay within
        ``batch_size`` and its padded tokens within ``batch_tokens``; a chunk holds at least one prompt."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        chunks: list[list[int]] = []
        for i in order:
            if chunks:
                rows = (len(chunks[-1]) + 1) * sampling.n  # ascending lengths: prompt i is the chunk's longest
                tokens = rows * (lengths[i] + sampling.max_new_tokens)
                if rows <= self.batch_size and (self.batch_tokens is None or tokens <= self.batch_tokens):
                    chunks[-1].append(i)
                    continue
            chunks.append([i])
        return chunks

    def complete(self, prompts: Sequence[Sequence[int]], sampling: Decoding) -> list[Completion]:
        """Each token-id prompt continued ``sampling.n`` times (prompt-major)."""
        n = sampling.n
        greedy = sampling.temperature <= 0
        if greedy and n > 1:  # n greedy continuations are one continuation n times
            once = self.complete(prompts, replace(sampling, n=1))
            return [c for c in once for _ in range(n)]
        if not greedy and sampling.seed is not None:
            # Global torch RNG: transformers samples with torch.multinomial and takes no generator.
            # Same seed, same prompts, same chunks -> the same samples.
            self._torch.manual_seed(sampling.seed)
        completions: list[Completion | None] = [None] * (len(prompts) * n)
        for chunk in self.chunks([len(p) for p in prompts], sampling):
            results = self._complete_batch([list(prompts[i]) for i in chunk], sampling)
            for k, i in enumerate(chunk):
                completions[i * n:(i + 1) * n] = results[k * n:(k + 1) * n]
        return completions

    def _complete_batch(self, prompts: list[list[int]], sampling: Decoding) -> list[Completion]:
        tokenizer = self.tokenizer
        inputs = tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self.device)
        sample = sampling.temperature > 0
        with self._torch.inference_mode():
            output = self.model.generate(
                **inputs, max_new_tokens=sampling.max_new_tokens, do_sample=sample,
                temperature=sampling.temperature if sample else None, top_p=sampling.top_p if sample else None,
                top_k=None, num_return_sequences=sampling.n, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, stop_strings=list(sampling.stop) or None, tokenizer=tokenizer,
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
    """The vLLM engine; on CPU with the same options as the teacher's vLLM backend."""

    backend = "vllm"

    def __init__(self, model_dir: str | Path, max_new_tokens: int = 320, max_model_len: int | None = None,
                 token_caps: ThoughtTokenCaps | None = None) -> None:
        import torch

        # Its INFO lines go to a file (DISTILLERY_VERBOSE=1 / --verbose: to stderr); set before the import.
        self.log_file = route_engine_logs(os.environ.get("DISTILLERY_VERBOSE") == "1", "vllm")
        max_model_len = max_model_len or default_max_model_len(max_new_tokens)
        with engine_output_to(self.log_file):
            from vllm import LLM

            self.engine = LLM(model=str(model_dir), max_model_len=max_model_len, seed=0,
                              **engine_options(torch.cuda.is_available()))
        self.tokenizer = self.engine.get_tokenizer()
        self.max_new_tokens = max_new_tokens
        self.token_caps = token_caps or ThoughtTokenCaps()

    def generate(self, requests: Sequence[tuple[str, str]]) -> Generated:
        return generate_thoughts(self, requests)

    def complete(self, prompts: Sequence[Sequence[int]], sampling: Decoding) -> list[Completion]:
        from vllm.inputs import TokensPrompt

        if sampling.temperature <= 0 and sampling.n > 1:  # n greedy continuations are one continuation n times
            once = self.complete(prompts, replace(sampling, n=1))
            return [c for c in once for _ in range(sampling.n)]
        eos = self.tokenizer.eos_token_id
        outputs = self.engine.generate([TokensPrompt(prompt_token_ids=list(ids)) for ids in prompts],
                                       sampling_params(sampling, eos), use_tqdm=False)
        return [Completion(text=completion.text,  # vLLM already cut the stop string
                           output_tokens=generated_tokens(list(completion.token_ids), eos),
                           finish_reason=finish_reason(completion.finish_reason) or "stop")
                for output in outputs for completion in output.outputs]  # n per prompt, in order

    def close(self) -> None:
        """Stop the engine-core process now (also on Ctrl-C): left to the garbage collector, it
        can outlive the command and leak its shared memory."""
        engine, self.engine = self.engine, None
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()
