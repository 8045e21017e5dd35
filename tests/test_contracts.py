"""Each contract between teachers, students, the verifier and the evaluation is defined once, and
each name means one thing: the stop strings and the trigger table (student/thought_text.py), a
teacher's ``Sampling`` (teacher/config.py), ``VerifyMany`` (verifier/records.py). Pure: no
models, no services."""

from __future__ import annotations

import ast
import collections
import json
import threading
import typing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError

import distillery
from distillery.student import generation, thought_text
from distillery.student.thought_text import STOP, TRIGGERS, clean_thought, cut_at_stop
from distillery.teacher import prompts
from distillery.teacher.backends import hf, openai_http, vllm_engine
from distillery.teacher.backends.base import GenerationRequest
from distillery.teacher.config import Sampling, TeacherJobConfig, ThoughtTypeName
from distillery.verifier.records import ThoughtType, VerifyMany

PACKAGE = Path(distillery.__file__).parent


def _modules() -> dict[str, ast.Module]:
    return {str(path.relative_to(PACKAGE)): ast.parse(path.read_text(), str(path))
            for path in sorted(PACKAGE.rglob("*.py")) if not path.name.endswith(("_pb2.py", "_pb2_grpc.py"))}


def _string_literals(tree: ast.Module) -> list[str]:
    """Every string constant but docstrings."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


# ---------------------------------------------------------------- the text contract

def test_every_generator_stops_at_the_one_stop_tuple():
    # Student generation (HF and vLLM engines, and so serving's replicas) and every teacher backend.
    assert generation.thought_sampling(64).stop is STOP
    for module in (generation, hf, vllm_engine, openai_http, prompts):
        assert module.STOP is STOP, module.__name__
    assert isinstance(STOP, tuple)  # nobody can append to it


def test_no_copy_of_the_stop_strings_or_triggers():
    owned = {*STOP, *TRIGGERS.values()}
    copies = [(name, text) for name, tree in _modules().items() if name != "student/thought_text.py"
              for text in _string_literals(tree) if "Question:" in text or text in owned]
    assert copies == []


def test_cutting_at_stop_is_clean_thoughts_cutting():
    raw = "ans = 3\n\nQuestion: next?\nQuestion: again"
    assert cut_at_stop(raw, STOP) == ("ans = 3", True)
    assert clean_thought(raw, "pot") == "ans = 3"
    assert clean_thought("The answer is 4.\nQuestion: more", "cot") == "The answer is 4."


def test_one_trigger_table():
    from distillery.trainer import formatting

    assert prompts.TRIGGERS is TRIGGERS and formatting.TRIGGERS is TRIGGERS
    assert thought_text.THOUGHT_TYPES == ("cot", "pot", "eot")
    # The typed spellings of the thought types name the trigger table's keys, in its order.
    assert typing.get_args(ThoughtTypeName) == thought_text.THOUGHT_TYPES
    assert tuple(t.value for t in ThoughtType) == thought_text.THOUGHT_TYPES


def test_prompt_hash_is_unchanged_by_the_consolidation():
    # Recorded in every teacher dataset's lineage: edit a prompt, a trigger or STOP -> bump PROMPT_VERSION
    # and this value together.
    assert prompts.PROMPT_VERSION == "gsm8k-train-8shot-v1"
    assert prompts.prompt_hash() == "cfb9ef4b5bf83e3f08fd408ac201339123680b6f3aa221ca60238aa537464d72"


class _Recorder(ThreadingHTTPServer):
    """An OpenAI-compatible endpoint on loopback that keeps each request body."""

    daemon_threads = True

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        super().__init__(("127.0.0.1", 0), _RecorderHandler)


class _RecorderHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.bodies.append(body)
        data = json.dumps({"choices": [{"message": {"content": "ans = 7\nQuestion: next"}}] * body.get("n", 1),
                           "usage": {"completion_tokens": 5}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_http_teacher_sends_the_stop_strings_and_the_sampling():
    server = _Recorder()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = openai_http.OpenAIBackend(f"http://127.0.0.1:{server.server_address[1]}/v1", "m", max_retries=0)
        [generation_] = backend.generate([GenerationRequest({"question": "q"}, "pot", 2)],
                                         Sampling(temperature=0.5, max_tokens=40, seed=3))
    finally:
        server.shutdown()
        server.server_close()
    [body] = server.bodies
    assert body["stop"] == list(STOP)
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"], body["n"]) == (0.5, 0.95, 40, 3, 2)
    assert generation_.texts == ["ans = 7", "ans = 7"]


# ---------------------------------------------------------------- Sampling

def test_teacher_sampling_defaults_and_bounds():
    assert Sampling().model_dump() == {"temperature": 0.7, "top_p": 0.95, "max_tokens": 384, "seed": 0}
    llm = TeacherJobConfig(problems="p@1", out="o", backend="hf", model="smollm2-135m-instruct")
    assert llm.sampling == Sampling()
    # The annotations teacher does not sample: its config records the seed (variants) and nothing else.
    annotations = TeacherJobConfig(problems="p@1", out="o", sampling={"seed": 4}).sampling
    assert annotations.model_dump() == {"temperature": None, "top_p": None, "max_tokens": None, "seed": 4}
    with pytest.raises(ValidationError, match="sampling.temperature: the annotations teacher does not sample"):
        TeacherJobConfig(problems="p@1", out="o", sampling={"temperature": 0.2})
    for bad in ({"temperature": -0.1}, {"temperature": 2.01}, {"top_p": 0}, {"top_p": 1.1}, {"max_tokens": 0},
                {"max_tokens": 8193}, {"n": 2}):
        with pytest.raises(ValidationError):
            Sampling.model_validate(bad)
    with pytest.raises(ValidationError):
        Sampling().temperature = 1.0  # frozen


@pytest.mark.parametrize("spec, expected", [
    # What a job spec's `teacher.sampling` has accepted (temperature 0..2, max_tokens null or 1..8192, seed).
    ({}, (0.7, 384, 0)),
    ({"temperature": 0, "max_tokens": None, "seed": 5}, (0.0, 384, 5)),
    ({"temperature": 2, "max_tokens": 1}, (2.0, 1, 0)),
    ({"max_tokens": 8192, "seed": -1}, (0.7, 8192, -1)),
])
def test_teacher_sampling_accepts_what_a_job_spec_accepts(spec, expected):
    sampling = Sampling.model_validate(spec)
    assert (sampling.temperature, sampling.max_tokens, sampling.seed) == expected


# ---------------------------------------------------------------- VerifyMany

def test_one_verify_many_alias():
    from distillery.evaluation import harness, thought_file
    from distillery.teacher import job
    from distillery.verifier import batch

    for module in (harness, thought_file, job, batch):
        assert module.VerifyMany is VerifyMany, module.__name__
    defined = [name for name, tree in _modules().items() for node in tree.body
               if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "VerifyMany" for t in node.targets)]
    assert defined == ["verifier/records.py"]


# ---------------------------------------------------------------- one name, one meaning

# Top-level classes (and class aliases) that still share a name across modules: each entry is
# a known homonym, to be renamed away; a new one fails here.
KNOWN_HOMONYMS = {
    "BinOp", "Expr", "Neg", "Num",  # teacher/dataflow.py vs verifier/eot/parser.py expression trees
    "Ref",  # registry/names.py vs teacher/dataflow.py
    "Step",  # teacher/dataflow.py vs teacher/annotations.py
    "InvalidRow",  # trainer/data.py vs registry/rows.py
    "LimitExceeded",  # serving/limits.py vs verifier/servicer.py
    "Outcome",  # trainer/core.py vs core/outcome.py
}


def test_no_new_homonyms():
    alias = (ast.Name, ast.Subscript, ast.Attribute, ast.BinOp)  # X = Y, X = Callable[...], X = A | B
    where = collections.defaultdict(list)
    for name, tree in _modules().items():
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(name)
            elif isinstance(node, ast.Assign) and isinstance(node.value, alias):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id[:1].isupper() and not target.id.isupper():
                        where[target.id].append(name)
    homonyms = {name for name, modules in where.items() if len(modules) > 1}
    assert homonyms - KNOWN_HOMONYMS == set(), {n: where[n] for n in homonyms - KNOWN_HOMONYMS}
    assert KNOWN_HOMONYMS - homonyms == set(), "renamed away: drop these from KNOWN_HOMONYMS"
    # The renames this pins: each name below is defined in exactly one place.
    assert where["StudentModel"] == ["student/model_refs.py"]  # serving's replica is StudentReplica
    assert "trainer/students.py" not in where["Student"]  # the trainer's loaded model is StudentNetwork
    assert "evaluation/harness.py" not in where["Evaluation"]  # the harness's result is EvaluationRun


def test_parse_number_split_by_what_it_returns():
    from fractions import Fraction

    from distillery.verifier.eot.lexer import EotLimitError, exact_number
    from distillery.verifier.numbers import number_or_none

    assert number_or_none("$1,200") == 1200.0 and number_or_none("twelve") is None
    assert exact_number("0.1") == Fraction(1, 10)
    with pytest.raises(EotLimitError):
        exact_number("1" * 400)
    functions = [node.name for tree in _modules().values() for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert "parse_number" not in functions


def test_each_serving_failure_has_one_http_and_one_grpc_status():
    """The HTTP route and the gRPC route answer the same failure alike (serving/errors.py's table)."""
    import grpc

    from distillery.serving.errors import GRPC_CODES, ServiceUnavailable, ServingError
    from distillery.serving.limits import LimitExceeded, body_too_large

    assert ServiceUnavailable("verifier down").grpc_code == grpc.StatusCode.UNAVAILABLE
    assert ServingError(401, "no", "authentication_error").grpc_code == grpc.StatusCode.UNAUTHENTICATED
    too_large = body_too_large(10, 11)
    assert isinstance(too_large, LimitExceeded) and isinstance(too_large, ServingError)
    assert (too_large.status, too_large.grpc_code) == (413, grpc.StatusCode.INVALID_ARGUMENT)
    assert set(GRPC_CODES) >= {400, 401, 403, 404, 413, 429, 503}


# ---------------------------------------------------------------- exit codes

def test_the_readme_documents_every_exit_code_as_the_cli_defines_it():
    import re
    from pathlib import Path

    from distillery.cli.exit_codes import ExitCode

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Automating Distillery", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", section, re.M)
    assert [(int(code), name) for code, name in rows] == [(int(code), code.name) for code in ExitCode]
