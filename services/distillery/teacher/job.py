"""A teacher dataset job: problems -> N samples x thought types -> verified -> registry.

Resumable by construction. Problems are taken in dataset order, in batches; after each
batch the accepted and rejected rows are appended (fsync'd) to files in the job's work
directory and ``state.json`` records how many problems are done and the files' lengths.
A restarted job truncates the files to those lengths (dropping a half-written batch)
and continues with the next problem: no sample is lost or written twice. Only when every
problem is done are the two datasets pushed -- the registry never sees a partial one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from distillery.teacher.backends.base import GenerationRequest, TeacherBackend
from distillery.teacher.config import TeacherJobConfig
from distillery.teacher.contamination import ContaminationGuard
from distillery.teacher.dataflow import Dataflow, DataflowError, from_annotations, from_program
from distillery.teacher.errors import GenerationFailed
from distillery.teacher.variation import make_variants
from distillery.teacher.prompts import PROMPT_VERSION, prompt_hash
from distillery.verifier.records import ThoughtRecord, Verdict, VerifyMany


@dataclass
class JobProgress:
    problems_total: int = 0
    problems_done: int = 0
    generated: int = 0
    duplicates: int = 0
    accepted: Counter = field(default_factory=Counter)  # by thought type
    rejected: Counter = field(default_factory=Counter)
    output_tokens: int = 0
    elapsed_s: float = 0.0
    resumed_from: int = 0
    variants_kept: int = 0  # problem variants derived and verified
    variants_dropped: int = 0  # variants that could not be derived or verified
    contaminated: int = 0  # problems refused by the contamination guard

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.elapsed_s if self.elapsed_s else 0.0

    def yield_by_type(self, problems_with_verified: dict[str, set]) -> dict[str, float]:
        total = max(self.problems_total, 1)
        return {t: len(ids) / total for t, ids in sorted(problems_with_verified.items())}


@dataclass
class JobResult:
    dataset: str  # TEAM/NAME@VERSION of the verified thoughts
    rejected: str  # TEAM/NAME-rejected@VERSION, pushed even when it is empty
    progress: JobProgress
    yield_by_type: dict[str, float]
    variants: str | None = None  # TEAM/NAME@VERSION of the kept variants, a `problems` dataset


def job_key(config: TeacherJobConfig, problems_ref: str, lineage: dict | None = None) -> str:
    material = json.dumps({"config": config.model_dump(mode="json"), "problems": problems_ref,
                           "prompts": prompt_hash(), **({"lineage": lineage} if lineage else {})}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Checkpoint:
    """The job's durable progress: append-only JSONL files (accepted and rejected thoughts, kept
    variant problems) and a state file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.files = {kind: directory / f"{kind}.jsonl" for kind in ("accepted", "rejected", "variants")}
        self.state_path = directory / "state.json"
        state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        self.done = state.get("problems_done", 0)
        lengths = state.get("lengths", {})
        for kind, path in self.files.items():
            with open(path, "ab") as handle:  # cut a batch that was half-written when we died
                handle.truncate(lengths.get(kind, 0))
        self.counters = state.get("counters", {})
        self.result = state.get("result")  # set once the datasets are pushed

    def _write_state(self, state: dict) -> None:
        temp = self.state_path.with_suffix(".tmp")
        temp.write_text(json.dumps(state))
        os.replace(temp, self.state_path)

    def record_result(self, result: dict) -> None:
        state = json.loads(self.state_path.read_text())
        self._write_state({**state, "result": result})
        self.result = result

    def append(self, batch_rows: dict[str, list[dict]], problems_done: int, counters: dict) -> None:
        lengths = {}
        for kind, path in self.files.items():
            with open(path, "ab") as handle:
                for row in batch_rows[kind]:
                    handle.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
                lengths[kind] = handle.tell()
        self.done = problems_done
        self._write_state({"problems_done": problems_done, "lengths": lengths, "counters": counters})

    def verified_problems(self, problem_ids: set[str]) -> dict[str, set]:
        """The job's own problems (not the variants it made) with a verified thought, by thought type."""
        verified: dict[str, set] = {}
        with open(self.files["accepted"], "rb") as handle:
            for line in handle:
                row = json.loads(line)
                if str(row["problem_id"]) not in problem_ids:
                    continue
                verified.setdefault(row["thought_type"], set()).add(str(row["problem_id"]))
        return verified


COUNTERS = ("generated", "duplicates", "output_tokens", "accepted", "rejected", "elapsed_s", "variants_kept",
            "variants_dropped", "contaminated")


@dataclass
class _Thought:
    problem: dict
    thought_type: str
    sample_index: int
    record: ThoughtRecord
    verdict: Verdict

    def row(self, teacher: dict) -> dict:
        row = {"id": self.record.id, "thought_type": self.thought_type, "text": self.record.text,
               "gold": self.record.gold, **self.verdict.contract_fields(), "problem_id": self.problem["id"],
               "question": self.problem["question"], "sample_index": self.sample_index, "teacher": teacher}
        if "parent_id" in self.problem:  # a variant: where it came from and which numbers changed
            row.update(parent_id=self.problem["parent_id"], variation=self.problem["variation"])
        return row


class _Teacher:
    """One batch's generation and verification, shared by problems and their variants."""

    def __init__(self, config: TeacherJobConfig, backend: TeacherBackend, verify_many: VerifyMany,
                 progress: JobProgress) -> None:
        self.config, self.backend, self.verify_many, self.progress = config, backend, verify_many, progress

    def thoughts(self, problems: list[dict]) -> list[_Thought]:
        config, progress = self.config, self.progress
        requests = [GenerationRequest(p, t, config.samples) for p in problems for t in config.thought_types]
        generations = self.backend.generate(requests, config.sampling)
        failed = next((g for g in generations if g.failed), None)
        if failed:  # stop before the checkpoint: the batch is redone on resume, no problem silently lost
            reason = failed.errors[0] if failed.errors else "generation failed"
            raise GenerationFailed(f"{reason}; the job stopped, run it again to resume")
        candidates: list[tuple[dict, str, int, ThoughtRecord]] = []
        for request, generation in zip(requests, generations):
            progress.output_tokens += generation.output_tokens
            seen: set[str] = set()
            for sample_index, text in enumerate(generation.texts):
                progress.generated += 1
                key = normalise(text)
                if key in seen:  # duplicate thoughts of one problem collapse to the first
                    progress.duplicates += 1
                    continue
                seen.add(key)
                problem, thought_type = request.problem, request.thought_type
                record = ThoughtRecord(id=f"{problem['id']}-{thought_type}-{sample_index}", thought_type=thought_type,
                                       text=text, gold=problem["answer"])
                candidates.append((problem, thought_type, sample_index, record))
        verdicts = self.verify_many([record for *_, record in candidates])
        return [_Thought(p, t, i, record, verdict) for (p, t, i, record), verdict in zip(candidates, verdicts)]


def _variation_source(problem: dict, thoughts: list[_Thought]) -> Dataflow | None:
    """The verified program a problem's variants are computed from: GSM8K's annotation program when
    the problem has a rationale and the teacher's PoT verified (or PoT was not asked for), else the
    teacher's first verified PoT thought (an LLM teacher's program)."""
    verified_pot = [t for t in thoughts if t.thought_type == "pot" and t.verdict.correct]
    asked_pot = any(t.thought_type == "pot" for t in thoughts)
    try:
        if problem.get("rationale") and (verified_pot or not asked_pot):
            return from_annotations(problem["question"], problem["rationale"], float(problem["answer"]))
        if verified_pot:
            return from_program(problem["question"], verified_pot[0].record.text)
    except DataflowError:
        return None
    return None


def run_job(config: TeacherJobConfig, problems_ref: str, problems: list[dict], backend: TeacherBackend,
            verify_many: VerifyMany, push: Callable[..., str], work_dir: Path,
            guard: ContaminationGuard | None = None,
            lineage: dict | None = None) -> Iterator[JobProgress | JobResult]:
    """Run (or resume) the job: yields progress after every batch, then the result.

    ``push(name, path, parents, config, meta, kind)`` stores a dataset (kind ``dataset`` or
    ``problems``) and returns its reference. ``guard`` refuses benchmark questions; ``lineage``
    adds to the datasets' recorded config. Stopping the iteration between batches (a cancelled
    call) loses nothing.
    """
    if config.limit:
        problems = problems[: config.limit]
    checkpoint = _Checkpoint(work_dir / job_key(config, problems_ref, lineage))
    progress = JobProgress(problems_total=len(problems), problems_done=checkpoint.done,
                           resumed_from=checkpoint.done)
    for name, value in checkpoint.counters.items():
        setattr(progress, name, Counter(value) if isinstance(value, dict) else value)
    started = time.monotonic() - progress.elapsed_s
    teacher = {"backend": backend.name, "model": backend.model, "prompt_version": PROMPT_VERSION,
               "prompt_hash": prompt_hash()}
    generation = _Teacher(config, backend, verify_many, progress)

    def clean(candidates: list[dict]) -> list[dict]:
        kept = [p for p in candidates if guard is None or guard.match(p["question"]) is None]
        progress.contaminated += len(candidates) - len(kept)
        return kept

    for start in range(checkpoint.done, len(problems), config.batch_size):
        batch = clean(problems[start:start + config.batch_size])
        rows: dict[str, list[dict]] = {"accepted": [], "rejected": [], "variants": []}
        thoughts = generation.thoughts(batch)
        if config.variants:
            thoughts += _variant_thoughts(config, batch, thoughts, generation, clean, rows["variants"])
        for thought in thoughts:
            kind = "accepted" if thought.verdict.correct else "rejected"
            rows[kind].append(thought.row(teacher))
            (progress.accepted if thought.verdict.correct else progress.rejected)[thought.thought_type] += 1
        progress.problems_done = start + len(problems[start:start + config.batch_size])
        progress.elapsed_s = time.monotonic() - started
        checkpoint.append(rows, progress.problems_done, {
            name: dict(getattr(progress, name)) if isinstance(getattr(progress, name), Counter)
            else getattr(progress, name) for name in COUNTERS})
        yield progress

    yields = progress.yield_by_type(checkpoint.verified_problems({str(p["id"]) for p in problems}))
    if checkpoint.result:  # finished and pushed before: the same job is the same datasets
        yield JobResult(dataset=checkpoint.result["dataset"], rejected=checkpoint.result["rejected"],
                        progress=progress, yield_by_type=yields, variants=checkpoint.result.get("variants"))
        return
    lineage_config = {**config.model_dump(mode="json"), "teacher": teacher, "problems_resolved": problems_ref,
                      **(lineage or {})}
    meta = {"dataset_kind": config.dataset_kind, "generated": str(progress.generated),
            "duplicates_collapsed": str(progress.duplicates), "contaminated_refused": str(progress.contaminated),
            **({"variants_kept": str(progress.variants_kept), "variants_dropped": str(progress.variants_dropped)}
               if config.variants else {}),
            **{f"yield_{t}": f"{y:.4f}" for t, y in yields.items()}}
    dataset = push(config.out, checkpoint.files["accepted"], [problems_ref], lineage_config, meta, "dataset")
    # Always pushed, even empty: a script can read OUT-rejected without asking whether it exists.
    rejected = push(f"{config.out}-rejected", checkpoint.files["rejected"], [problems_ref], lineage_config, meta,
                    "dataset")
    variants = None
    if checkpoint.files["variants"].stat().st_size:
        variants = push(f"{config.out}-variants", checkpoint.files["variants"], [problems_ref], lineage_config, meta,
                        "problems")
    checkpoint.record_result({"dataset": dataset, "rejected": rejected, "variants": variants})
    yield JobResult(dataset=dataset, rejected=rejected, progress=progress, yield_by_type=yields, variants=variants)


def _variant_thoughts(config: TeacherJobConfig, batch: list[dict], thoughts: list[_Thought], generation: _Teacher,
                      clean: Callable[[list[dict]], list[dict]], variant_rows: list[dict]) -> list[_Thought]:
    """Variants of the batch's problems with verified programs, their thoughts, verified; a variant
    whose thought types do not all verify (they disagree on its answer) is dropped whole."""
    by_problem: dict[str, list[_Thought]] = {}
    for thought in thoughts:
        by_problem.setdefault(str(thought.problem["id"]), []).append(thought)
    variants: list[dict] = []
    for problem in batch:
        flow = _variation_source(problem, by_problem.get(str(problem["id"]), []))
        if flow is None:
            continue
        made, _ = make_variants(problem, flow, config.variants, config.sampling.seed)
        variants += clean([v.problem for v in made])
    kept: list[_Thought] = []
    by_variant: dict[str, list[_Thought]] = {}
    for thought in generation.thoughts(variants):
        by_variant.setdefault(str(thought.problem["id"]), []).append(thought)
    for variant in variants:
        variant_thoughts = by_variant.get(str(variant["id"]), [])
        verified_types = {t.thought_type for t in variant_thoughts if t.verdict.correct}
        if verified_types == set(config.thought_types):
            generation.progress.variants_kept += 1
            kept += variant_thoughts
            variant_rows.append(variant)
        else:
            generation.progress.variants_dropped += 1
    return kept


__all__ = ["GenerationFailed", "JobProgress", "JobResult", "job_key", "run_job"]
