"""The teacher service loads a job's contamination guard from the caller's team: a real registry
(S3 server process) and the real teacher and verifier services on loopback, no stack. Two teams:
a guard dataset of one team never guards, or leaks into, the other's jobs."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf.json_format import MessageToDict

from distillery.registry.client import RegistryClient, header

from distillery.registry.principals import PrincipalCache
from distillery.teacher.client import TeacherClient
from distillery.teacher.server import create_teacher_server
from distillery.v1 import teacher_pb2 as pb
from distillery.v1 import teacher_config_pb2 as teacher_config_pb
from distillery.verifier.config import VerifierConfig
from distillery.verifier.server import create_verifier_server
from tests.registry.conftest import ADMIN_TOKEN, registry_config, registry_server, s3_server  # noqa: F401

HELD_OUT = "A farmer has 12 cows and buys 30 more cows at the market. How many cows does the farmer have now?"
CLEAN = "Ann reads 7 pages a day for 6 days. How many pages does she read?"


@pytest.fixture(scope="module")
def tokens(registry_server):
    with RegistryClient(registry_server[0], ADMIN_TOKEN) as admin:
        return {team: admin.create_team(team) for team in ("alpha", "beta")}


@pytest.fixture(scope="module")
def teacher(registry_server, tmp_path_factory):
    registry = registry_server[0]
    verifier_handle, _ = create_verifier_server("127.0.0.1:0", VerifierConfig(workers=1), PrincipalCache(registry))
    work = tmp_path_factory.mktemp("teacher-guard")
    handle = create_teacher_server("127.0.0.1:0", registry, f"127.0.0.1:{verifier_handle.port}", work / "jobs",
                                   PrincipalCache(registry))
    yield f"127.0.0.1:{handle.port}"
    handle.stop(grace_s=1)
    verifier_handle.stop(grace_s=1)


def push_rows(address: str, token: str, name: str, kind: str, rows: list[dict], tmp_path) -> str:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with RegistryClient(address, token) as client:
        return client.push_file(header(name, kind), path).ref


def run(address: str, token: str, **fields) -> list[pb.TeacherJobEvent]:
    job = pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(**{"problems": "tiny@1", "thought_types": ["pot"], "out": "guarded", **fields}))
    with TeacherClient(address, token) as client:
        return list(client.run_job(job))


def refused(address: str, token: str, **fields) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        run(address, token, **fields)
    return caught.value


def test_the_guard_is_loaded_from_the_callers_team(registry_server, tokens, teacher, tmp_path):
    registry = registry_server[0]
    problems = [{"id": "t1", "question": HELD_OUT, "answer": 42.0, "equation": "( 12.0 + 30.0 )"},
                {"id": "t2", "question": CLEAN, "answer": 42.0, "equation": "( 7.0 * 6.0 )"}]
    for team in ("alpha", "beta"):
        push_rows(registry, tokens[team], "tiny", "problems", problems, tmp_path)

    # The default guard names the four evaluation sets; none is in alpha's team yet.
    missing = refused(teacher, tokens["alpha"])
    assert missing.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "'gsm8k-test'" in missing.details() and "import-benchmarks --only gsm8k-test" in missing.details()
    assert "contamination_guard to []" in missing.details()

    # Only `problems` datasets guard; a field that contradicts another is refused before anything is read.
    push_rows(registry, tokens["alpha"], "notes", "dataset", [{"text": HELD_OUT}], tmp_path)
    wrong_kind = refused(teacher, tokens["alpha"], contamination_guard=["notes"])
    assert wrong_kind.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert wrong_kind.details() == "contamination_guard: alpha/notes@1 is a dataset, not a problems dataset"
    wrong_problems = refused(teacher, tokens["alpha"], problems="notes@1", no_contamination_guard=True)
    assert wrong_problems.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert wrong_problems.details() == "problems: alpha/notes@1 is a dataset, not a problems dataset"
    both = refused(teacher, tokens["alpha"], contamination_guard=["notes"], no_contamination_guard=True)
    assert both.code() == grpc.StatusCode.INVALID_ARGUMENT and "not both" in both.details()
    bad_name = refused(teacher, tokens["alpha"], contamination_guard=["beta/heldout"])
    assert bad_name.code() == grpc.StatusCode.INVALID_ARGUMENT and "contamination_guard" in bad_name.details()

    # Beta's held-out set is not alpha's: alpha's job cannot name it (nor learn that it exists).
    held_out = [{"id": "h1", "question": HELD_OUT, "answer": 42.0}]
    push_rows(registry, tokens["beta"], "heldout", "problems", held_out, tmp_path)
    other_team = refused(teacher, tokens["alpha"], contamination_guard=["heldout"])
    assert other_team.code() == grpc.StatusCode.FAILED_PRECONDITION and "'heldout'" in other_team.details()

    # Beta's job: the held-out question is refused, the other one is generated; the guard's exact
    # version is in the datasets' lineage.
    events = run(teacher, tokens["beta"], contamination_guard=["heldout"])
    last = events[-1]
    assert last.progress.contaminated == 1 and last.HasField("result")
    with RegistryClient(registry, tokens["beta"]) as client:
        manifest = client.show(last.result.dataset)
        config = MessageToDict(manifest.lineage.config)
        rows = [json.loads(line) for chunk in client.pull(manifest.ref) for line in chunk.splitlines() if line]
    assert [row["problem_id"] for row in rows] == ["t2"]  # verified; nothing of the held-out question
    assert config["contamination_guard_resolved"] == ["beta/heldout@1"] and config["contamination_guard"] == ["heldout"]

    # Turned off, the same question goes through (and that is recorded as part of the job).
    unguarded = run(teacher, tokens["beta"], no_contamination_guard=True)[-1]
    assert unguarded.progress.contaminated == 0 and unguarded.result.dataset != last.result.dataset
    assert sum(unguarded.progress.accepted.values()) == 2
