"""What a script driving the CLI relies on, where no stack is needed: exit codes when the stack is
down or a call is interrupted, the published JSON Schemas being current and describing what the
renderer prints, and the human output's small promises. The same outputs from the real stack are
validated in tests/registry/test_local_stack.py and tests/jobs/test_jobs_stack.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import jsonschema
import pytest
from google.protobuf import struct_pb2

from distillery.cli.exit_codes import ExitCode
from tests.conftest import CLI, REPO

SCHEMAS = REPO / "docs" / "schemas"
# No stack, no token from the developer's environment.
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")},
       "DISTILLERY_HOME": tempfile.mkdtemp(prefix="distillery-home-")}


def distillery(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def validate(output, name: str) -> None:
    jsonschema.validate(output, json.loads((SCHEMAS / f"{name}.schema.json").read_text()))


def test_the_committed_json_schemas_are_what_the_code_prints():
    check = subprocess.run([sys.executable, "-m", "distillery.cli.schemas", "--check"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    index = (SCHEMAS / "README.md").read_text()
    for command in ("jobs get --json", "registry show --json", "registry lineage --json", "whoami --json",
                    "team ls --json", "registry pull DATASET -o FILE --json", "status"):
        assert f"`{command}`" in index


@pytest.mark.parametrize("verb", [("jobs", "ls"), ("jobs", "get", "job-1"), ("registry", "ls"), ("whoami",),
                                  ("team", "ls"), ("solve", "What is 2 + 2?")])
def test_with_the_stack_down_every_verb_exits_unavailable(verb):
    result = distillery(*verb)
    assert result.returncode == ExitCode.UNAVAILABLE, result.stderr
    assert "distillery up" in result.stderr and "Traceback" not in result.stderr


def test_a_refused_connection_exits_unavailable_in_one_line():
    result = distillery("jobs", "ls", "--jobs", "127.0.0.1:1", "--token", "t")
    assert result.returncode == ExitCode.UNAVAILABLE
    assert result.stderr.startswith("Error: jobs: UNAVAILABLE: ") and len(result.stderr.splitlines()) == 1


@pytest.fixture
def silent_service():
    """A port that accepts connections and never answers: every call waits until interrupted."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(60)
        yield listener


def _interrupted(listener: socket.socket, *args: str) -> subprocess.CompletedProcess:
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    flag = "--jobs" if args[0] == "jobs" else "--registry"
    process = subprocess.Popen([str(CLI), *args, flag, address, "--token", "t"], env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    connection, _ = listener.accept()  # the call is in flight, waiting for an answer
    with connection:
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def test_ctrl_c_exits_130_with_one_line_and_no_traceback(silent_service):
    listing = _interrupted(silent_service, "registry", "ls")
    assert (listing.returncode, listing.stderr) == (ExitCode.INTERRUPTED, "interrupted\n")
    watching = _interrupted(silent_service, "jobs", "watch", "job-7")
    assert watching.returncode == ExitCode.INTERRUPTED
    assert watching.stderr.splitlines() == [
        "detached: job job-7 goes on (`distillery jobs watch job-7` to follow it again, "
        "`distillery jobs cancel job-7` to stop it)"]


def test_proto_outputs_have_real_types_and_match_their_schema():
    from distillery.cli.output import message_dict
    from distillery.v1 import jobs_pb2, registry_pb2

    config = struct_pb2.Struct()
    config.update({"limit": 50, "seed": 0, "temperature": 0.7, "nested": {"steps": [1, 2]}})
    manifest = registry_pb2.Manifest(name="t", version=3, rows=12, ref="a/t@3", counts_by_status={"ok": 5},
                                     lineage=registry_pb2.Lineage(config=config), meta={"teacher": "annotations"})
    shown = message_dict(manifest)
    assert (shown["version"], shown["rows"], shown["counts_by_status"]) == (3, 12, {"ok": 5})
    assert shown["lineage"]["config"] == {"limit": 50, "seed": 0, "temperature": 0.7, "nested": {"steps": [1, 2]}}
    assert shown["deleted_at"] == "" and shown["tags"] == []  # every field, defaults included: one shape
    validate(shown, "manifest")
    validate([shown], "manifests")

    from distillery.jobs.spec import parse_spec

    spec = parse_spec("name: typed\nproblems: {limit: 8}").model_dump(mode="json")
    job = jobs_pb2.DistillJob(id="job-1", state="running", spec=json.dumps(spec),
                              stages=[jobs_pb2.Stage(name="teacher", state="running", attempts=1)])
    printed = message_dict(job)
    assert printed["spec"] == spec and printed["spec"]["problems"]["limit"] == 8  # an object, not a string
    validate(printed, "job")
    with pytest.raises(jsonschema.ValidationError):
        validate({**printed, "spec": json.dumps(spec)}, "job")  # JSON inside a string is not the schema


def test_serve_help_shows_the_short_form_it_accepts():
    shown = distillery("serve", "--help")
    assert shown.returncode == 0
    usage = shown.stdout.splitlines()[:2]
    assert usage == ["Usage: distillery serve MODEL[@V] [DEPLOY OPTIONS]",
                     "       distillery serve COMMAND [ARGS]..."]
    for form in ("distillery serve MODEL[@V] [OPTIONS]", "distillery serve ls", "distillery serve rm NAME"):
        assert form in shown.stdout
    # the short form is the deploy command (its options and all)
    assert "--min-replicas" in distillery("serve", "some-model@1", "--help").stdout


def test_stage_table_counts_tries_and_reads_an_ended_jobs_clock():
    from distillery.cli.jobs import stage_table
    from distillery.v1 import jobs_pb2

    ended = time.time() - 3 * 3600  # a job that ended hours ago
    job = jobs_pb2.DistillJob(state="failed", updated_at=ended, stages=[
        jobs_pb2.Stage(name="teacher", state="succeeded", attempts=1, started_at=ended - 90, finished_at=ended - 30),
        jobs_pb2.Stage(name="train", state="failed", attempts=2, started_at=ended - 30),  # never stamped finished
        jobs_pb2.Stage(name="eval", state="cancelled", attempts=0)])
    lines = stage_table(job).splitlines()
    assert "1 try " in lines[0] and "1m00s" in lines[0]
    assert "2 tries" in lines[1] and "0m30s" in lines[1]  # to the job's end, not to now
    assert "0 tries" in lines[2]


def test_up_columns_fit_the_longest_key():
    from distillery.cli.output import columns

    lines = columns([("registry", "127.0.0.1:1"), ("a-much-longer-endpoint", "127.0.0.1:2")]).splitlines()
    assert lines[0].index("127") == lines[1].index("127") == len("a-much-longer-endpoint") + 2
