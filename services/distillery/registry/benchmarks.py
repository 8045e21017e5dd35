"""Parse the five math benchmarks into one "problems" schema.

Reads the pinned copies under the shared data directory (each folder's SOURCE.md records
where they came from). Pure functions: no network, no S3.

Every row has ``id``, ``question`` (whitespace-normalised), ``answer`` (float), ``source``
(benchmark family) and ``split``; where the benchmark has them also ``rationale`` (GSM8K's
solution without the ``#### N`` line), ``equation`` and ``type``.

    name          kept  dropped
    gsm8k-train   7473        0
    gsm8k-test    1319        0
    svamp         1000        0
    asdiv         2084      221
    multiarith     600        0

ASDiv decision: its answers are free text with a unit in parentheses ("9 (apples)"). We keep the
2084 that are a single number (the unit is stripped) and drop the other 221 of 2305, each recorded
in ``BenchmarkLoad.dropped`` with one of these reasons:

    multiple answers            90  "5 (years old); 15 (years old)"
    ratio or clock time (a:b)   61  41 ratios ("5:6") and 20 clock times ("3:30 p.m.")
    fraction (a/b)               9  "5/2", "-(1/3)"
    not a number                61  names, yes/no, colours ("Mrs. Hilt", "Yes")

Fractions are single values, but they are dropped too: grading them needs a tolerance choice and
they are 9 problems. PAL's asdiv.jsonl (2096 rows) differs: it keeps 74 multi-answer problems with
only their first value as the target and drops all 61 decimal answers.

Other fixes: SVAMP's and ASDiv's problem-type typos ("Common-Divison", "Substraction"); space
before punctuation (MultiArith's ``sQuestion`` is padded, ASDiv has "barn ?"), but not before a
decimal such as GSM8K's "takes .5 hours".
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BENCHMARKS: tuple[str, ...] = ("gsm8k-train", "gsm8k-test", "svamp", "asdiv", "multiarith")

# One line per benchmark, from the facts in its SOURCE.md.
PROVENANCE: dict[str, str] = {
    "gsm8k-train": "openai/grade-school-math@3101c7d grade_school_math/data/train.jsonl; MIT, (c) 2021 OpenAI",
    "gsm8k-test": "openai/grade-school-math@3101c7d grade_school_math/data/test.jsonl; MIT, (c) 2021 OpenAI",
    "svamp": "arkilpatel/SVAMP@689d7cc SVAMP.json (challenge set); MIT, (c) 2021 Arkil Patel",
    "asdiv": "chaochun/nlu-asdiv-dataset@883f90a dataset/ASDiv.xml;"
             " CC BY-NC 4.0 per README (non-commercial; no LICENSE file)",
    "multiarith": "kojima-takeshi188/zero_shot_cot@5ef330f dataset/MultiArith/MultiArith.json (Roy & Roth 2015, MAWPS);"
                  " no licence there; byte-identical copy in wenhuchen/Program-of-Thoughts is MIT",
}

TYPE_TYPO_FIXES: dict[str, str] = {"Common-Divison": "Common-Division", "Substraction": "Subtraction"}

# "9 (apples)", "14  (seats)", "0.46 (dollars)", "5": one number, optionally followed by a unit.
ASDIV_SINGLE_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:\([^()]*\))?")
ASDIV_COLON = re.compile(r"\d+:\d+")
ASDIV_FRACTION = re.compile(r"-?\(?\d+/\d+\)?")
# A space before . , ? or ! -- unless a digit follows, so ".5 hours" keeps its space.
SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,?!])(?!\d)")


@dataclass(frozen=True)
class BenchmarkLoad:
    rows: list[dict]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (problem id, reason)
    source: str = ""


def normalise_question(text: str) -> str:
    """Collapse whitespace runs (incl. newlines, NBSP) to one space, strip, and close up " ?" etc."""
    return SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split()))


def load_benchmark(name: str, data_dir: Path) -> BenchmarkLoad:
    """Parse benchmark ``name`` (one of ``BENCHMARKS``) from the shared data directory."""
    loaders: dict[str, Callable[[Path], tuple[list[dict], list[tuple[str, str]]]]] = {
        "gsm8k-train": lambda d: (_gsm8k(d / "gsm8k" / "train.jsonl", "train"), []),
        "gsm8k-test": lambda d: (_gsm8k(d / "gsm8k" / "test.jsonl", "test"), []),
        "svamp": lambda d: (_svamp(d / "svamp" / "SVAMP.json"), []),
        "asdiv": lambda d: _asdiv(d / "asdiv" / "ASDiv.xml"),
        "multiarith": lambda d: (_multiarith(d / "multiarith" / "MultiArith.json"), []),
    }
    if name not in loaders:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}")
    rows, dropped = loaders[name](Path(data_dir))
    for row in rows:
        if not math.isfinite(row["answer"]):  # a NaN/inf answer would poison grading and JSON output
            raise ValueError(f"{row['id']}: answer {row['answer']!r} is not finite")
    return BenchmarkLoad(rows=rows, dropped=dropped, source=PROVENANCE[name])


def iter_jsonl_bytes(rows: Iterable[dict]) -> Iterator[bytes]:
    """One UTF-8 JSON line (ending in newline) per row, in order."""
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def _gsm8k(path: Path, split: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            record = json.loads(line)
            rationale, marker, final = record["answer"].rpartition("\n#### ")
            if not marker:
                raise ValueError(f"{path}:{index + 1}: answer has no final '#### N' line")
            rows.append({
                "id": f"gsm8k-{split}-{index}",
                "question": normalise_question(record["question"]),
                "answer": float(final.strip().replace(",", "")),  # "109,200,000" -> 109200000.0
                "source": "gsm8k",
                "split": split,
                "rationale": rationale.strip(),
            })
    return rows


def _svamp(path: Path) -> list[dict]:
    records = json.loads(path.read_text(encoding="utf-8"))
    return [{
        "id": f"svamp-{record['ID']}",
        # Body often lacks a final period; a space is the join Zero-shot-CoT and PAL use.
        "question": normalise_question(record["Body"] + " " + record["Question"]),
        "answer": float(record["Answer"]),
        "source": "svamp",
        "split": "test",
        "equation": record["Equation"].strip(),
        "type": TYPE_TYPO_FIXES.get(record["Type"], record["Type"]),
    } for record in records]


def _asdiv(path: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    rows: list[dict] = []
    dropped: list[tuple[str, str]] = []
    for problem in ET.parse(path).getroot().iter("Problem"):
        problem_id = f"asdiv-{problem.get('ID')}"
        answer_text = (problem.findtext("Answer") or "").strip()
        single = ASDIV_SINGLE_NUMBER.fullmatch(answer_text)
        if not single:
            dropped.append((problem_id, _asdiv_drop_reason(answer_text)))
            continue
        solution_type = (problem.findtext("Solution-Type") or "").strip()
        rows.append({
            "id": problem_id,
            "question": normalise_question(f"{problem.findtext('Body')} {problem.findtext('Question')}"),
            "answer": float(single.group(1)),
            "source": "asdiv",
            "split": "test",
            "equation": (problem.findtext("Formula") or "").strip(),
            "type": TYPE_TYPO_FIXES.get(solution_type, solution_type),
        })
    return rows, dropped


def _asdiv_drop_reason(answer_text: str) -> str:
    if ";" in answer_text:
        return "multiple answers"
    if ASDIV_COLON.search(answer_text):
        return "ratio or clock time (a:b)"
    if ASDIV_FRACTION.fullmatch(answer_text):
        return "fraction (a/b)"
    return "not a number"


def _multiarith(path: Path) -> list[dict]:
    rows = []
    for record in json.loads(path.read_text(encoding="utf-8")):
        if len(record["lSolutions"]) != 1:  # all 600 have one; more would need a schema decision
            raise ValueError(f"MultiArith iIndex {record['iIndex']}: expected one solution, got {record['lSolutions']}")
        rows.append({
            "id": f"multiarith-{record['iIndex']}",
            "question": normalise_question(record["sQuestion"]),
            "answer": float(record["lSolutions"][0]),
            "source": "multiarith",
            "split": "test",
            "equation": "; ".join(equation.strip() for equation in record["lEquations"]),
        })
    return rows
