"""HF transformers teacher: batched ``generate`` (the reference and fallback backend)."""

from __future__ import annotations

from pathlib import Path

from distillery.student.models import resolve_model
from distillery.student.thought_text import STOP, clean_thought
from distillery.teacher.backends.base import Generation, GenerationRequest
from distillery.teacher.config import Sampling
from distillery.teacher.prompts import chat_prompt, completion_prompt


class HFBackend:
    name = "hf"

    def __init__(self, model: str, batch_size: int = 16, path: Path | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = model
        path = path or resolve_model(model)  # the service resolves (and access-checks) registry models
        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.engine = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        self.engine.eval()
        self.batch_size = batch_size
        self._torch = torch

    def prompt(self, request: GenerationRequest) -> str:
        question = request.problem["question"]
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(chat_prompt(question, request.thought_type), tokenize=False,
                                                      add_generation_prompt=True)
        return completion_prompt(question, request.thought_type)

    def generate(self, requests: list[GenerationRequest], sampling: Sampling) -> list[Generation]:
        results: list[Generation] = []
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            results += self._generate_batch(batch, sampling, seed=sampling.seed + start)
        return results

    def _generate_batch(self, batch: list[GenerationRequest], sampling: Sampling, seed: int) -> list[Generation]:
        samples = max(r.samples for r in batch)
        inputs = self.tokenizer([self.prompt(r) for r in batch], return_tensors="pt", padding=True)
        self._torch.manual_seed(seed)
        greedy = sampling.temperature == 0
        with self._torch.no_grad():
            output = self.engine.generate(
                **inputs, max_new_tokens=sampling.max_tokens, num_return_sequences=1 if greedy else samples,
                do_sample=not greedy, temperature=None if greedy else sampling.temperature,
                top_p=None if greedy else sampling.top_p, pad_token_id=self.tokenizer.pad_token_id,
                stop_strings=list(STOP), tokenizer=self.tokenizer,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        per_request = 1 if greedy else samples
        generations = []
        for i, request in enumerate(batch):
            rows = new_tokens[i * per_request:(i + 1) * per_request][: request.samples]
            texts = self.tokenizer.batch_decode(rows, skip_special_tokens=True)
            produced = int((rows != self.tokenizer.pad_token_id).sum())
            cleaned = [clean_thought(t, request.thought_type) for t in texts]
            # Greedy decoding ran once; every requested sample is that same text.
            generations.append(Generation(texts=cleaned * (request.samples if greedy else 1), output_tokens=produced))
        return generations

    def close(self) -> None:
        self.engine = None
