"""``run_eval``: a student on the benchmarks -> verified thoughts, a result table, a results dataset.

    with RegistryClient(address, token) as registry, Verifier() as verifier:
        report = run_eval("smollm2-135m-instruct", ["gsm8k", "svamp"], ["cot", "pot", "eot", "etd"],
                          registry=registry, verify_many=verifier.verify_many, limit=50)
    report.summary()  # {"model": ..., "results": [...], "dataset": "eval-smollm2-135m-instruct@1"}

Steps: the problems of each benchmark from the registry (``problems`` datasets made by
``distillery registry import-benchmarks``), the first ``limit`` of each; one greedy thought per
problem and needed thought type, and with ``samples=K`` also K sampled ones (``temperature``,
``seed``); every thought through the verifier (executed / solved / parsed, and graded against
gold); the table (:mod:`.scoring`); the verified thoughts pushed as a ``dataset`` with lineage
(the model when it is a registry model, and the problems datasets).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import grpc
from pydantic import BaseModel

from distillery.student.generation import Generated, StudentGenerator, generate_samples, open_generator
from distillery.student.model_refs import StudentModel, resolve_student
from distillery.evaluation.scoring import (GREEDY, EtdComparison, ResultRow, compare_etd, parse_choices,
                                           parse_methods, score, thought_types_for)
from distillery.registry.client import header
from distillery.registry.names import NAME_RE
from distillery.verifier.records import ThoughtRecord, Verdict, VerifyMany

# Short benchmark name -> the `problems` dataset `import-benchmarks` registers for it.
BENCHMARK_DATASETS = {"gsm8k": "gsm8k-test", "svamp": "svamp", "asdiv": "asdiv", "multiarith": "multiarith"}


class EvalReport(BaseModel):
    model: str  # NAME@VERSION of a registry model, else the reference as given
    dataset: str  # the results dataset, NAME@VERSION
    dataset_ref: str  # ... and TEAM/NAME@VERSION
    results: list[ResultRow]
    etd: EtdComparison | None = None
    backend: str
    problems: int
    thoughts: int
    output_tokens: int
    generation_s: float
    samples: int = 0  # K sampled thoughts per problem and type (0: greedy only)
    temperature: float | None = None  # of the samples

    def summary(self) -> dict:
        """The ``distillery eval --json`` document (``samples`` and ``temperature`` only with samples)."""
        summary = {"model": self.model, "results": [r.model_dump() for r in self.results], "dataset": self.dataset}
        if self.samples:
            summary.update(samples=self.samples, temperature=self.temperature)
        return summary

    @property
    def thoughts_per_s(self) -> float:
        return self.thoughts / self.generation_s if self.generation_s else 0.0

    @property
    def problems_per_s(self) -> float:
        return self.problems / self.generation_s if self.generation_s else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.generation_s if self.generation_s else 0.0


def parse_benchmarks(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"gsm8k,svamp"`` -> short names; the dataset names (``gsm8k-test``) are accepted too."""
    by_dataset = {dataset: short for short, dataset in BENCHMARK_DATASETS.items()}
    items = text.split(",") if isinstance(text, str) else text
    return parse_choices([by_dataset.get(i.strip().lower(), i) for i in items], BENCHMARK_DATASETS, "benchmark")


def load_problems(registry, benchmark: str, limit: int | None = None) -> tuple[str, list[dict]]:
    """The benchmark's latest ``problems`` version (TEAM/NAME@VERSION) and its first ``limit`` rows."""
    dataset = BENCHMARK_DATASETS[benchmark]
    try:
        manifest = registry.resolve(dataset, kind="problems", field=f"benchmark {benchmark}")  # WrongKind: ValueError
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        raise ValueError(f"benchmark {benchmark}: no `{dataset}` dataset in the registry; import it with "
                         f"`distillery registry import-benchmarks --only {dataset}`") from None
    return manifest.ref, registry.read_rows(manifest.ref, limit=limit)


def thought_id(problem_id, thought_type: str, sample: int = GREEDY) -> str:
    """A results row's id: ``gsm8k-test-0/pot`` (greedy), ``gsm8k-test-0/pot/3`` (sample 3)."""
    return f"{problem_id}/{thought_type}" + (f"/{sample}" if sample != GREEDY else "")


def thought_rows(items: Sequence[tuple[str, dict, str]], thoughts: Sequence[str], verdicts: Sequence[Verdict],
                 output_tokens: Sequence[int], samples: Sequence[int] | None = None) -> list[dict]:
    """Rows of the results dataset: one per ``(benchmark, problem, thought_type)`` item, with its
    thought; ``samples`` gives each item's ``sample`` (default: all greedy, ``-1``)."""
    samples = samples if samples is not None else [GREEDY] * len(items)
    return [{"id": thought_id(problem["id"], thought_type, sample), "benchmark": benchmark,
             "problem_id": problem["id"], "question": problem["question"], "gold": problem["answer"],
             "thought_type": thought_type, "sample": sample, "text": text, **verdict.contract_fields(),
             "output_tokens": tokens}
            for (benchmark, problem, thought_type), sample, text, verdict, tokens
            in zip(items, samples, thoughts, verdicts, output_tokens, strict=True)]


@dataclass(frozen=True)
class EvaluationRun:
    """What :func:`evaluate` found: the verified thoughts (results dataset rows) and the table."""

    rows: list[dict]
    results: list[ResultRow]
    generated: Generated  # every thought, greedy then sampled; ``seconds`` is both calls together
    problems: int
    samples: int = 0


def evaluate(generator: StudentGenerator, problems: Mapping[str, Sequence[dict]], methods: str | Sequence[str],
             verify_many: VerifyMany, log: Callable[[str], None] = lambda _line: None, samples: int = 0,
             temperature: float = 0.7, seed: int | None = 0) -> EvaluationRun:
    """The evaluation itself, without the registry: ``problems`` is benchmark -> rows (id, question,
    answer); every needed thought is generated (greedy, and ``samples`` sampled ones at
    ``temperature`` when asked), verified and scored."""
    methods = parse_methods(methods)
    thought_types = thought_types_for(methods)
    items = [(b, p, t) for b, rows in problems.items() for p in rows for t in thought_types]
    count = len(items) // len(thought_types)
    requests = [(p["question"], t) for _, p, t in items]
    extra = f" + {samples} sampled each at temperature {temperature}" if samples else ""
    log(f"generating {len(items)} thoughts ({', '.join(thought_types)}) for {count} problems with "
        f"{generator.backend}{extra}")
    generated = generator.generate(requests)
    indices = [GREEDY] * len(items)
    if samples:
        sampled = generate_samples(generator, requests, samples, temperature, seed)
        generated = Generated(thoughts=generated.thoughts + sampled.thoughts,
                              output_tokens=generated.output_tokens + sampled.output_tokens,
                              seconds=generated.seconds + sampled.seconds)
        items = items + [item for item in items for _ in range(samples)]
        indices += [j for _ in requests for j in range(samples)]
    log(f"generated {len(generated.thoughts)} thoughts, {generated.tokens} tokens in {generated.seconds:.1f} s "
        f"({generated.tokens / max(generated.seconds, 1e-9):.1f} tokens/s); verifying")
    records = [ThoughtRecord(id=i, thought_type=t, text=text, gold=p["answer"])
               for i, ((_, p, t), text) in enumerate(zip(items, generated.thoughts))]
    rows = thought_rows(items, generated.thoughts, list(verify_many(records)), generated.output_tokens, indices)
    return EvaluationRun(rows=rows, results=score(rows, list(problems), methods, samples), generated=generated,
                      problems=count, samples=samples)


def run_eval(model: str, benchmarks: str | Sequence[str], methods: str | Sequence[str], *, registry,
             verify_many: VerifyMany, limit: int | None = None, backend: str = "auto", max_new_tokens: int = 320,
             batch_size: int = 16, out: str | None = None, log: Callable[[str], None] = lambda _line: None,
             generator: StudentGenerator | None = None, allow_local_paths: bool = False, samples: int = 0,
             temperature: float = 0.7, seed: int | None = 0) -> EvalReport:
    """Evaluate ``model`` (alias or registry model) and store the verified thoughts.

    ``allow_local_paths``: ``model`` may also be a local HF directory -- for the CLI's own
    process only, never on behalf of another caller (a path could name another team's files).

    ``registry`` is a :class:`~distillery.registry.client.RegistryClient`; ``verify_many`` a
    verifier's (in-process ``Verifier.verify_many`` or ``VerifierClient.verify_many``).
    ``generator`` replaces the engine ``backend`` would open (the caller then closes it).
    ``samples``: K sampled thoughts per problem and type besides the greedy one (self-consistency).
    Raises ValueError (ModelNotFound included) for bad arguments, grpc.RpcError for refused calls.
    """
    benchmarks, methods = parse_benchmarks(benchmarks), parse_methods(methods)
    if out is not None and not NAME_RE.fullmatch(out):
        raise ValueError(f"--out {out!r}: use lowercase letters, digits, '.', '_' or '-' (max 128)")
    loaded = {b: load_problems(registry, b, limit) for b in benchmarks}
    student = resolve_student(model, registry, allow_local_paths=allow_local_paths)
    engine = generator or open_generator(student.path, backend, max_new_tokens, batch_size)
    if getattr(engine, "log_file", None):
        log(f"engine log: {engine.log_file}")
    try:
        evaluation = evaluate(engine, {b: rows for b, (_, rows) in loaded.items()}, methods, verify_many, log,
                              samples=samples, temperature=temperature, seed=seed)
    finally:
        if generator is None:
            engine.close()
    config = {"model": student.label, "backend": engine.backend, "benchmarks": list(benchmarks),
              "methods": list(methods), "limit": limit, "max_new_tokens": max_new_tokens}
    if samples:
        config.update(samples=samples, temperature=temperature, seed=seed)
    manifest = _push(registry, out or f"eval-{student.name}", student, [ref for ref, _ in loaded.values()],
                     evaluation, config)
    generated = evaluation.generated
    return EvalReport(model=student.label, dataset=f"{manifest.name}@{manifest.version}", dataset_ref=manifest.ref,
                      results=evaluation.results, etd=compare_etd(evaluation.results), backend=engine.backend,
                      problems=evaluation.problems, thoughts=len(evaluation.rows), output_tokens=generated.tokens,
                      generation_s=generated.seconds, samples=samples, temperature=temperature if samples else None)


def _push(registry, name: str, student: StudentModel, problem_refs: list[str], evaluation: EvaluationRun,
          config: dict):
    parents = ([student.registry_ref] if student.registry_ref else []) + problem_refs
    generated = evaluation.generated
    meta = {"model": student.label[:250], "backend": config["backend"], "output_tokens": str(generated.tokens),
            "generation_s": f"{generated.seconds:.2f}"}
    meta.update({f"accuracy.{r.benchmark}.{r.method}": f"{r.correct}/{r.total}" for r in evaluation.results})
    lines = (json.dumps(row, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n" for row in evaluation.rows)
    return registry.push(header(name, "dataset", parents=parents, meta=meta, stage="eval", config=config), lines)
