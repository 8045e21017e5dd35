"""Distillation jobs on the local stack: the real jobs controller running each stage as a Ray job
(Ray Jobs API on the stack's Ray head) against the real teacher, verifier, trainer (Ray Train,
SmolLM2) and registry (SeaweedFS), with the real eval harness. Tiny slices, few steps.

Covered: ``distillery run`` end to end and again (every stage reused); the controller SIGKILLed
mid-job and started again (the job finishes, no stage runs twice); cancel; a stage refused as invalid
failing at once, its cause in one line; a spec whose references do not resolve refused at submit;
a new team's job on the public benchmarks with no import of its own; quotas; other teams; bad specs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from distillery.cli.exit_codes import ExitCode
from distillery.jobs.client import JobClient
from distillery.registry.client import RegistryClient, header
from distillery.stack.local import ray_client_env
from tests.conftest import CLI, local_stack
from tests.conftest import run_cli as cli

TINY = {
    "name": "tiny",
    "problems": {"dataset": "gsm8k-train", "limit": 8},
    "teacher": {"backend": "annotations"},
    "student": {"max_steps": 2, "batch_tokens": 256, "max_length": 128, "workers": 1, "checkpoint_every": 1},
    "evaluation": {"benchmarks": ["multiarith"], "methods": ["pot", "cot"], "limit": 2, "baseline": False,
                   "backend": "hf", "max_new_tokens": 24},
    "retries": {"attempts": 2, "backoff_s": 1},
}


def spec(**changes) -> str:
    data = json.loads(json.dumps(TINY))
    for path, value in changes.items():
        section, _, field = path.partition("__")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    return yaml.safe_dump(data)



@pytest.fixture(scope="module")
def stack(tmp_path_factory, shared_data):
    home = tmp_path_factory.mktemp("jobs") / "home"
    for env in local_stack(home, shared_data):
        yield home, env
        for process in RESTARTED:  # controllers the tests started in place of the stack's
            process.terminate()
            process.wait(timeout=60)


RESTARTED: list[subprocess.Popen] = []


def _state(home):
    return json.loads((home / "stack.json").read_text())


def _client(home, token=None) -> JobClient:
    return JobClient(_state(home)["jobs"]["address"], token or (home / "token").read_text().strip())


def _wait_for(client, job_id, condition, timeout_s=600):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(job_id)
        if condition(job):
            return job
        time.sleep(1)
    raise AssertionError(f"{job_id} never reached the condition; last: {job}")


def _stage(job, name):
    return next(s for s in job.stages if s.name == name)


def test_distillery_run_goes_end_to_end_and_reuses_finished_stages(stack, tmp_path):
    home, env = stack
    path = tmp_path / "tiny.yaml"
    path.write_text(spec())
    first = json.loads(cli(env, "run", str(path), "--json").stdout)
    assert first["state"] == "succeeded", first
    stages = {s["name"]: s for s in first["stages"]}
    assert [s["name"] for s in first["stages"]] == ["teacher", "train", "eval"]
    assert all(s["state"] == "succeeded" and s["attempts"] == 1 for s in stages.values())
    thoughts, model, results = (stages["teacher"]["outputs"]["dataset"], stages["train"]["outputs"]["model"],
                                stages["eval"]["outputs"]["dataset"])
    rows = stages["eval"]["result"]["eval"]["results"]
    assert {(r["benchmark"], r["method"]) for r in rows} == {("multiarith", "pot"), ("multiarith", "cot")}
    assert all(r["total"] == 2 for r in rows)
    # lineage: problems -> thoughts -> model -> eval results
    with RegistryClient(_state(home)["registry"]["address"], (home / "token").read_text().strip()) as registry:
        results = registry.show(results).ref  # TEAM/NAME@V
        lineage = {m.ref: list(m.lineage.parents) for m in registry.lineage(results)}
    assert model in lineage[results] and lineage[model] == [thoughts]
    assert first["problems"] in lineage[thoughts]

    again = json.loads(cli(env, "run", str(path), "--json").stdout)
    assert again["state"] == "succeeded" and again["id"] != first["id"]
    assert [s["state"] for s in again["stages"]] == ["reused"] * 3
    assert {s["name"]: s["outputs"] for s in again["stages"]} == {s["name"]: s["outputs"] for s in first["stages"]}
    printed = cli(env, "jobs", "logs", first["id"], "--stage", "teacher").stdout
    assert thoughts in printed and "===== teacher (succeeded) =====" in printed


def _controller_secrets(home) -> dict[str, str]:
    """What the stack gives its jobs controller from the environment (secrets, Ray access)."""
    return {"DISTILLERY_S3_SECRET_KEY": json.loads((home / "s3.json").read_text())["secret_key"],
            "DISTILLERY_JOBS_KEY": (home / "jobs.key").read_text().strip(), **ray_client_env(home)}


def _restart_controller(home, env) -> subprocess.Popen:
    """The stack's jobs controller again, same command and secrets (what a Deployment restart does)."""
    state = _state(home)
    log = open(home / "logs" / "jobs-restarted.log", "ab")
    return subprocess.Popen(state["jobs"]["command"], env={**env, **_controller_secrets(home)}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _ray_submissions(home, job_id) -> list[str]:
    code = ("import json,sys; from ray.job_submission import JobSubmissionClient as C; "
            "print(json.dumps([j.submission_id for j in C(sys.argv[1]).list_jobs()]))")
    env = {**os.environ, **ray_client_env(home)}
    dashboard = f"http://127.0.0.1:{_state(home)['ray_ports']['dashboard']}"
    out = subprocess.run([str(CLI.parent / "python"), "-c", code, dashboard], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return sorted(s for s in json.loads(out) if s and s.startswith(job_id))  # drivers have no submission id


def test_a_controller_killed_mid_job_carries_on_and_runs_no_stage_twice(stack):
    home, env = stack
    with _client(home) as client:
        job = client.submit(spec(name="restart", problems={"dataset": "gsm8k-train", "limit": 6}))
        _wait_for(client, job.id, lambda j: _stage(j, "train").state == "running")
    os.kill(_state(home)["jobs"]["pid"], signal.SIGKILL)
    time.sleep(2)
    RESTARTED.append(_restart_controller(home, env))  # serves the later tests too
    with _client(home) as client:
        _wait_ready(client)
        done = _wait_for(client, job.id, lambda j: j.state not in ("queued", "running"), timeout_s=900)
    assert done.state == "succeeded", done.error
    assert [(s.name, s.state, s.attempts) for s in done.stages] == [
        ("teacher", "succeeded", 1), ("train", "succeeded", 1), ("eval", "succeeded", 1)]
    assert _ray_submissions(home, job.id) == sorted(f"{job.id}-{s}-1" for s in ("eval", "teacher", "train"))


def test_cancel_stops_the_running_stage(stack):
    home, _ = stack
    with _client(home) as client:
        job = client.submit(spec(name="cancelled", student={"max_steps": 200, "batch_tokens": 256,
                                                            "max_length": 128, "workers": 1}))
        _wait_for(client, job.id, lambda j: _stage(j, "train").state == "running")
        time.sleep(5)
        client.cancel(job.id)
        done = _wait_for(client, job.id, lambda j: j.state != "running", timeout_s=120)
    assert done.state == "cancelled"
    assert [(s.name, s.state) for s in done.stages] == [("teacher", "reused"), ("train", "cancelled"),
                                                       ("eval", "cancelled")]


def test_a_stage_the_service_refuses_as_invalid_fails_at_once_with_its_cause(stack, tmp_path):
    """A base model deleted after the job was accepted: the train stage's driver reports the
    trainer's NOT_FOUND as not retryable -- one attempt, no backoff, and the job's error is the
    cause in one line (the stage's log stays in `jobs logs`). So does a training run the trainer
    accepted that then failed from its input (no example fits in max_length): the trainer calls it
    BAD_INPUT, and the stage is not retried -- unlike a dead worker."""
    home, env = stack
    checkpoint = tmp_path / "gone"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    with RegistryClient(_state(home)["registry"]["address"], (home / "token").read_text().strip()) as registry:
        base = registry.push_files(header("soon-gone", "model"), checkpoint).ref
        with _client(home) as client:
            job = client.submit(spec(name="nobase", student={**TINY["student"], "base": base}))
            registry.delete(base)  # long before the train stage starts: the teacher stage comes first
            # Every prompt is longer than 16 tokens: the workers find nothing to train on, at run time.
            unfit = client.submit(spec(name="unfit", student={**TINY["student"], "max_length": 16,
                                                               "max_failures": 0}))
            done = _wait_for(client, job.id, lambda j: j.state not in ("queued", "running"), timeout_s=300)
            unfit_done = _wait_for(client, unfit.id, lambda j: j.state not in ("queued", "running"), timeout_s=600)
    train = _stage(done, "train")
    assert done.state == "failed" and (train.state, train.attempts) == ("failed", 1)
    assert train.error.startswith("train: INVALID_ARGUMENT: ") and "soon-gone@1 is deleted" in train.error, train.error
    assert done.error == f"stage train failed after 1 attempt: {train.error}" and "\n" not in done.error
    got = cli(env, "jobs", "get", job.id, ok=False)
    assert got.returncode == ExitCode.FAILED and "Traceback" not in got.stdout + got.stderr
    assert cli(env, "jobs", "watch", job.id, ok=False).returncode == ExitCode.FAILED
    assert "soon-gone@1 is deleted" in cli(env, "jobs", "logs", job.id, "--stage", "train").stdout  # all of it

    train = _stage(unfit_done, "train")
    assert unfit_done.state == "failed" and (train.state, train.attempts) == ("failed", 1), unfit_done.error
    assert train.error.startswith("trainer: job train-") and " failed (bad input): " in train.error, train.error
    assert "no training examples" in train.error  # one attempt of the spec's 2: no retry, no backoff
    assert unfit_done.error == f"stage train failed after 1 attempt: {train.error}" and "\n" not in unfit_done.error
    for verb in ("get", "watch"):
        assert cli(env, "jobs", verb, unfit.id, ok=False).returncode == ExitCode.FAILED


@pytest.fixture(scope="module")
def alpha(stack):
    """A second team, made after `up`: it has imported nothing."""
    _, env = stack
    return {**env, "DISTILLERY_TOKEN": cli(env, "team", "create", "alpha").stdout.strip()}


def test_a_spec_whose_references_do_not_resolve_is_refused_at_submit_naming_the_field(stack, alpha, tmp_path):
    """Every reference of a spec (datasets, models, the teacher pool) is resolved at submit with the
    caller's token: a job that could never succeed is refused at once (no stage, no retries),
    naming its field."""
    _, env = stack
    rows = tmp_path / "private.jsonl"
    rows.write_text(json.dumps({"id": "p1", "question": "What is 6 * 7?", "answer": 42.0}) + "\n")
    private = json.loads(cli(env, "registry", "push", "private-problems", str(rows), "--kind", "problems",
                             "--json").stdout)["ref"]
    cases = [
        ({"student": {**TINY["student"], "base": "nope"}}, ExitCode.NOT_FOUND,
         "student.base: no model 'nope' for team alpha"),
        ({"teacher": {"backend": "hf", "model": "no-teacher@2"}}, ExitCode.NOT_FOUND,
         "teacher.model: no model 'no-teacher@2' for team alpha"),
        ({"teacher": {"backend": "annotations", "contamination_guard": ["gsm8k-test", "my-heldout"]}},
         ExitCode.NOT_FOUND, "teacher.contamination_guard[1]: no problems dataset 'my-heldout' for team alpha"),
        ({"problems": {"dataset": private, "limit": 2}}, ExitCode.DENIED,
         f"problems.dataset: team alpha may not read '{private}'"),
        ({"problems": {"dataset": "public/gsm8k-train@99"}}, ExitCode.NOT_FOUND, "problems.dataset: no problems"),
        # The teacher alone knows its operator's pools (this stack's: none); it is asked as alpha.
        ({"teacher": {"backend": "openai", "pool": "nope"}}, ExitCode.NOT_FOUND,
         "teacher.pool: no teacher pool 'nope' for team alpha; available: none"),
    ]
    started = time.monotonic()
    for changes, code, message in cases:
        path = tmp_path / "job.yaml"
        path.write_text(yaml.safe_dump({**json.loads(json.dumps(TINY)), "name": "refused", **changes}))
        refused = cli(alpha, "jobs", "submit", str(path), ok=False)
        assert refused.returncode == code and message in refused.stderr, (code, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert time.monotonic() - started < 60  # refused, not retried with backoff
    assert json.loads(cli(alpha, "jobs", "ls", "--json").stdout) == []


def test_a_new_team_runs_a_job_on_the_public_benchmarks_without_importing_any(stack, alpha, tmp_path):
    """The problems, the teacher's default contamination guard and the evaluation sets all come
    from the public namespace `up` filled: a new team's job runs with no import of its own."""
    home, _ = stack
    with _client(home, alpha["DISTILLERY_TOKEN"]) as client:
        job = client.submit(spec(name="newcomer", problems={"dataset": "gsm8k-train", "limit": 4}))
        assert job.problems.startswith("public/gsm8k-train@")
        running = _wait_for(client, job.id, lambda j: _stage(j, "teacher").state not in ("pending", "running")
                            or j.state not in ("queued", "running"), timeout_s=300)
        client.cancel(job.id)
    teacher = _stage(running, "teacher")
    assert teacher.state == "succeeded", (teacher.error, running.error)
    assert teacher.outputs["dataset"].startswith("alpha/newcomer-thoughts@")
    with RegistryClient(_state(home)["registry"]["address"], alpha["DISTILLERY_TOKEN"]) as registry:
        lineage = registry.show(teacher.outputs["dataset"]).lineage
    assert job.problems in lineage.parents
    resolved = {r.split("@")[0] for r in lineage.config["contamination_guard_resolved"]}
    assert resolved == {"public/gsm8k-test", "public/svamp", "public/asdiv", "public/multiarith"}


def test_teams_see_only_their_own_jobs_and_the_admin_sees_all(stack):
    home, _ = stack
    admin_token = (home / "admin.token").read_text().strip()
    with RegistryClient(_state(home)["registry"]["address"], admin_token) as admin:
        other_token = admin.create_team("other")
    with _client(home) as mine:
        own = mine.list()
    assert own and all(j.team == "default" for j in own)
    with _client(home, other_token) as other:
        assert other.list() == []
        for call in (lambda: other.get(own[0].id), lambda: other.cancel(own[0].id), lambda: other.logs(own[0].id)):
            with pytest.raises(grpc.RpcError) as denied:
                call()
            assert denied.value.code() == grpc.StatusCode.NOT_FOUND
    with _client(home, admin_token) as admin:
        assert {j.id for j in admin.list(all_teams=True)} >= {j.id for j in own}
    with _client(home) as mine, pytest.raises(grpc.RpcError) as refused:
        mine.list(all_teams=True)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_bad_specs_are_refused_over_grpc_with_field_paths(stack):
    home, _ = stack
    with _client(home) as client:
        for text, code, message in [
            ("name: x\nstudent: {workers: -1}", grpc.StatusCode.INVALID_ARGUMENT, "student.workers"),
            ("name: x\nteacher: {backend: openai, model: m}", grpc.StatusCode.INVALID_ARGUMENT, "needs `pool`"),
            ("name: x\nproblems: {dataset: nope}", grpc.StatusCode.NOT_FOUND, "problems.dataset: no problems dataset"),
        ]:
            with pytest.raises(grpc.RpcError) as refused:
                client.submit(text)
            assert refused.value.code() == code and message in refused.value.details(), refused.value.details()


def test_quotas_refuse_a_job_beyond_the_teams_limit(stack, tmp_path):
    """A second controller of the same stack with a one-job quota (its own state bucket)."""
    home, env = stack
    quotas = tmp_path / "quotas.yaml"
    quotas.write_text("default: {max_concurrent_jobs: 1, max_gpus: 0, max_workers: 4}\n")
    command = list(_state(home)["jobs"]["command"])
    port = str(_free_port())
    command[command.index("--port") + 1] = port
    command[command.index("--state-bucket") + 1] = "quota-test"
    command[command.index("--metrics-port") + 1] = str(_free_port())
    process = subprocess.Popen([*command, "--quotas", str(quotas)], env={**env, **_controller_secrets(home)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with JobClient(f"127.0.0.1:{port}", (home / "token").read_text().strip()) as client:
            _wait_ready(client)
            with pytest.raises(grpc.RpcError) as too_many_gpus:
                client.submit(spec(name="gpu", student={"max_steps": 2, "workers": 1, "gpu": True}))
            assert too_many_gpus.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_gpus=0" in too_many_gpus.value.details()
            # ... and says which limit as a typed detail a caller can act on.
            (detail,) = rpc_status.from_call(too_many_gpus.value).details
            failure = error_details_pb2.QuotaFailure()
            assert detail.Unpack(failure) and [(v.subject, v.quota_id) for v in failure.violations] == [
                ("team:default", "max_gpus")]
            first = client.submit(spec(name="first", student={"max_steps": 200, "workers": 1}))
            with pytest.raises(grpc.RpcError) as second:
                client.submit(spec(name="second"))
            assert second.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "quota max_concurrent_jobs=1: 1 in use" in second.value.details()
            client.cancel(first.id)
            _wait_for(client, first.id, lambda j: j.state == "cancelled", timeout_s=180)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _free_port() -> int:
    from distillery.stack.s3server import free_port

    return free_port()


def _wait_ready(client, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.list()
            return
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _validate(output, schema: str) -> None:
    import jsonschema

    from tests.conftest import REPO

    jsonschema.validate(output, json.loads((REPO / "docs" / "schemas" / f"{schema}.schema.json").read_text()))


def test_scripts_branch_on_the_exit_codes_of_jobs_verbs_and_read_typed_json(stack, tmp_path):
    """Through the CLI: refused (3), unknown (4), wrong token (5), still running (9), Ctrl-C on a
    watch (130, the job goes on), cancelled (8) -- failed (1) is the stage-refusal test's; `--json`
    is the published schema, the spec an object; an ended job's times are its own, not the moment
    someone looked."""
    home, env = stack
    no_cot = tmp_path / "no-cot.yaml"
    no_cot.write_text(spec(name="nocot", teacher={"backend": "annotations", "thought_types": ["eot", "pot"]}))
    refused = cli(env, "jobs", "submit", str(no_cot), ok=False)
    assert refused.returncode == ExitCode.INVALID, refused.stderr
    assert "student.thought_types (recipe etd" in refused.stderr and "teacher.thought_types (eot, pot)" in refused.stderr
    for verb in ("get", "watch"):
        assert cli(env, "jobs", verb, "job-nope", ok=False).returncode == ExitCode.NOT_FOUND
    assert cli({**env, "DISTILLERY_TOKEN": "dst_nope"}, "jobs", "ls", ok=False).returncode == ExitCode.DENIED

    long = tmp_path / "long.yaml"
    long.write_text(spec(name="codes", student={**TINY["student"], "max_steps": 200}))
    submitted = subprocess.Popen([str(CLI), "jobs", "submit", str(long), "--watch", "--json"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with _client(home) as client:
            deadline = time.monotonic() + 60
            while not (mine := [j for j in client.list() if j.name == "codes" and j.state == "running"]):
                assert time.monotonic() < deadline, "the submitted job never ran"
                time.sleep(0.5)
            job_id = mine[0].id
        assert cli(env, "jobs", "get", job_id, ok=False).returncode == ExitCode.NOT_FINISHED
        watcher = subprocess.Popen([str(CLI), "jobs", "watch", job_id], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        watcher.send_signal(signal.SIGINT)
        _, detached = watcher.communicate(timeout=60)
        assert watcher.returncode == ExitCode.INTERRUPTED and f"detached: job {job_id} goes on" in detached
        assert cli(env, "jobs", "get", job_id, ok=False).returncode == ExitCode.NOT_FINISHED  # it went on
        cli(env, "jobs", "cancel", job_id)
        printed, _ = submitted.communicate(timeout=180)
    finally:
        submitted.kill()
    assert submitted.returncode == ExitCode.CANCELLED
    job = json.loads(printed)
    _validate(job, "job")
    assert job["state"] == "cancelled" and job["spec"]["student"]["max_steps"] == 200  # an object, typed
    got = cli(env, "jobs", "get", job_id, "--json", ok=False)
    assert got.returncode == ExitCode.CANCELLED and json.loads(got.stdout)["state"] == "cancelled"
    _validate(json.loads(cli(env, "jobs", "ls", "--json").stdout), "jobs")
    time.sleep(1.5)  # the clock moves on; the job's end does not
    watched = cli(env, "jobs", "watch", job_id, ok=False)
    assert watched.returncode == ExitCode.CANCELLED
    assert watched.stderr.startswith(time.strftime("%H:%M:%S ", time.localtime(job["updated_at"]))), watched.stderr
    assert " 1 try " in watched.stdout or " 0 tries " in watched.stdout

