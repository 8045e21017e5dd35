"""The trainer on the local stack: a real S3 server, a real Ray cluster (2 CPU workers, gloo),
real SmolLM2 steps, a worker killed mid-run, a cancelled job resumed, a seq2seq student.

Steps are tiny (a few hundred tokens) because this machine trains at ~100 tokens/s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import grpc
import pytest

from tests.conftest import CLI, local_stack
from tests.conftest import run_cli as cli
from tests.published_schemas import validate_output

SMALL = ["--batch-tokens", "384", "--max-length", "192"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, shared_data):
    home = tmp_path_factory.mktemp("trainer-home")
    for env in local_stack(home, shared_data):
        cli(env, "teacher", "generate", "--problems", "gsm8k-train@1", "--limit", "16", "--out", "etd-tiny")
        yield home, env



# `trainer status` exits with the job's state (cli/exit_codes.py).
STATUS_EXIT = {"JOB_STATE_QUEUED": 9, "JOB_STATE_RUNNING": 9, "JOB_STATE_SUCCEEDED": 0, "JOB_STATE_FAILED": 1,
               "JOB_STATE_CANCELLED": 8}


def status(env, job_id, token: str | None = None) -> dict:
    result = cli(env, "trainer", "status", job_id, "--json", *(["--token", token] if token else []), ok=False)
    job = json.loads(result.stdout)
    validate_output(job, "training-job")
    assert result.returncode == STATUS_EXIT[job["state"]], (job["state"], result.returncode, result.stderr)
    return job


def wait_for(env, job_id, condition, timeout_s=600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = status(env, job_id)
        if condition(job):
            return job
        assert job["state"] not in ("JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED"), job
        time.sleep(1)
    raise AssertionError(f"timed out waiting on {job_id}: {job}")


def test_full_fine_tune_learns_checkpoints_and_registers_a_loadable_model(stack, tmp_path):
    home, env = stack
    job = json.loads(cli(env, "train", "--dataset", "etd-tiny@1", "--out", "student-full", "--max-steps", "5",
                         "--checkpoint-every", "5", "--lr", "3e-4", "--json", *SMALL).stdout)
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["model"] == "default/student-full@1"
    metrics = job["metrics"]
    assert metrics["step"] == 5 and metrics["loss"] < metrics["first_loss"], metrics
    assert 0 <= metrics["padding_waste"] < 0.10 and metrics["tokens_per_s"] > 0
    assert len(job["workers"]) == 2 and job["run"].startswith("s3://distillery-checkpoints/runs/default/student-full-")

    # The checkpoint is in the object store, under the run's path.
    from minio import Minio

    state = json.loads((home / "stack.json").read_text())
    s3 = json.loads((home / "s3.json").read_text())
    objects = [o.object_name for o in Minio(state["s3"]["address"], s3["access_key"], s3["secret_key"], secure=False)
               .list_objects("distillery-checkpoints", prefix=job["run"].split("/", 3)[3], recursive=True)]
    assert any(name.endswith("/trainable.safetensors") for name in objects)
    assert any(name.endswith("/optimizer.pt") for name in objects)

    # Registered with lineage...
    show = json.loads(cli(env, "registry", "show", "student-full@1", "--json").stdout)
    assert show["kind"] == "KIND_MODEL" and show["lineage"]["parents"] == ["default/etd-tiny@1"]
    config = show["lineage"]["config"]
    assert config["base"] == "smollm2-135m-instruct" and config["recipe"] == "etd"
    assert config["hyperparameters"]["max_steps"] == 5 and config["metrics"]["step"] == 5
    assert show["lineage"]["code_version"].startswith("distillery ")

    # ...and loads back as a plain HF checkpoint that generates.
    out = tmp_path / "student"
    cli(env, "registry", "pull", "student-full@1", "-o", str(out))
    card = json.loads((out / "distillery-student.json").read_text())
    assert card["architecture"] == "causal" and card["thought_types"] == ["cot", "pot", "eot"]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from distillery.student.thought_text import student_input

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    inputs = tokenizer(student_input("Tom has 3 apples and buys 4 more. How many apples?", "pot"),
                       return_tensors="pt", add_special_tokens=False)
    generated = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    assert tokenizer.decode(generated[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def test_a_killed_worker_restarts_from_the_last_checkpoint(stack):
    _, env = stack
    job_id = cli(env, "train", "--dataset", "etd-tiny@1", "--out", "student-kill", "--lora", "--max-steps", "9",
                 "--checkpoint-every", "3", "--lr", "1e-3", "--detach", *SMALL).stdout.strip()
    running = wait_for(env, job_id, lambda j: int(j.get("last_checkpoint_step", 0)) >= 3 and len(j.get("workers", [])) == 2)
    victim = next(w for w in running["workers"] if w.get("rank", 0) == 1)
    os.kill(int(victim["pid"]), signal.SIGKILL)

    done = json.loads(cli(env, "trainer", "watch", job_id, "--json").stdout)
    assert done["state"] == "JOB_STATE_SUCCEEDED", done.get("error")
    assert done["restarts"] >= 1
    resumed = int(done["resumed_from_step"])
    assert 3 <= resumed < 9, done  # continued from a checkpoint, not from step 0
    assert all(int(w.get("resumed_from_step", 0)) == resumed for w in done["workers"])
    assert all(int(w["pid"]) != int(victim["pid"]) for w in done["workers"])
    assert done["metrics"]["step"] == 9 and done["model"] == "default/student-kill@1"


def start_train(env, *args) -> tuple[subprocess.Popen, str, Callable[[], str]]:
    """``distillery train ARGS`` in the background, as a user runs it in a terminal; returns the
    process, its job id (the first line it prints) and a function that waits for its exit and
    returns all it wrote to stderr."""
    process = subprocess.Popen([str(CLI), "train", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    lines = [process.stderr.readline()]
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    job_id = lines[0].split(":", 1)[0]
    assert job_id.startswith("train-"), lines[0]

    def stderr() -> str:
        process.wait(timeout=300)
        reader.join(timeout=30)
        return "".join(lines)

    return process, job_id, stderr


def test_ctrl_c_on_train_stops_at_the_next_step_says_so_and_the_same_job_finishes(stack):
    _, env = stack
    args = ["--dataset", "etd-tiny@1", "--out", "student-resume", "--lora", "--max-steps", "4",
            "--checkpoint-every", "4", *SMALL]  # no checkpoint before the end: the cancel writes its own
    process, job_id, output = start_train(env, *args)
    wait_for(env, job_id, lambda j: j["state"] == "JOB_STATE_RUNNING")  # `trainer status` exits 9 meanwhile

    # Another team sees no such job, and cannot cancel it.
    other = cli(env, "team", "create", "intruders").stdout.strip()
    refused = cli(env, "trainer", "cancel", job_id, "--token", other, ok=False)
    assert refused.returncode == 4 and "NOT_FOUND" in refused.stderr  # NOT_FOUND

    seen = wait_for(env, job_id, lambda j: int(j.get("metrics", {}).get("step", 0)) >= 1)
    process.send_signal(signal.SIGINT)  # Ctrl-C
    stderr = output()
    # The command waited for the job to stop, and says where it stopped and how to go on.
    assert process.returncode == 8, stderr  # CANCELLED
    stopped = status(env, job_id)
    assert stopped["state"] == "JOB_STATE_CANCELLED" and not stopped.get("model"), stopped
    at = int(stopped["last_checkpoint_step"])
    assert f"cancelled at step {at} after writing a checkpoint there" in stderr, stderr
    assert "run the same command again to resume" in stderr
    # At the next step boundary: the step it was in (the view may lag one), and no step after the checkpoint.
    assert int(seen["metrics"]["step"]) <= at <= int(seen["metrics"]["step"]) + 2 and at < 4, (seen, stopped)
    assert int(stopped["metrics"]["step"]) == at
    watched = cli(env, "trainer", "watch", job_id, "--json", ok=False)
    assert watched.returncode == 8 and json.loads(watched.stdout)["state"] == "JOB_STATE_CANCELLED"

    # The cancel is not part of the run's state: the same command resumes there and finishes.
    done = json.loads(cli(env, "train", *args, "--json").stdout)
    assert done["state"] == "JOB_STATE_SUCCEEDED" and done["model"] == "default/student-resume@1", done
    assert int(done["resumed_from_step"]) == at and int(done["metrics"]["step"]) == 4
    assert done["run"] == stopped["run"]

    # A cancel that lands at the last step is simply the end: the model is registered. (A
    # one-step job, cancelled while its workers start: its first step is its last.)
    one = ["train", "--dataset", "etd-tiny@1", "--out", "student-last-step", "--lora", "--max-steps", "1", *SMALL]
    job_id = cli(env, *one, "--detach").stdout.strip()
    wait_for(env, job_id, lambda j: j["state"] == "JOB_STATE_RUNNING")
    cli(env, "trainer", "cancel", job_id)
    last = status(env, job_id)
    assert last["state"] == "JOB_STATE_SUCCEEDED" and last["model"] == "default/student-last-step@1", last


def test_ctrl_c_on_train_local_stops_at_the_next_step_and_the_same_command_resumes(stack):
    _, env = stack
    args = ["train", "--local", "--device", "cpu", "--dataset", "etd-tiny@1", "--out", "student-local-ctrl-c",
            "--max-steps", "3", "--checkpoint-every", "3", *SMALL]
    process = subprocess.Popen([str(CLI), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("step 1/3"):
            process.send_signal(signal.SIGINT)  # Ctrl-C
            break
    lines += process.stderr.read().splitlines(keepends=True)
    stderr = "".join(lines)
    assert process.wait(timeout=300) == 8, stderr  # CANCELLED
    assert "stopping at the next step boundary" in stderr
    stopped = next(int(line.split()[-1]) for line in lines if line.startswith("stopped at step"))
    assert stopped in (1, 2) and f"cancelled at step {stopped} after writing a checkpoint there" in stderr, stderr
    assert f"checkpoint @{stopped}" in stderr and "run the same command again to resume" in stderr

    again = cli(env, *args)
    assert again.stdout.strip() == "student-local-ctrl-c@1", again.stderr
    assert f"step {stopped + 1}/3" in again.stderr and "step 1/3" not in again.stderr  # resumed, not restarted


def test_bad_jobs_are_refused_with_the_field_named(stack):
    home, env = stack
    # Refused by TrainerConfig's own rules before anything is sent, naming the flag ...
    wrong_types = cli(env, "train", "--dataset", "etd-tiny@1", "--out", "x", "--types", "xot", ok=False)
    assert wrong_types.returncode != 0 and "--types: thought types must be some of" in wrong_types.stderr
    both = cli(env, "train", "--dataset", "etd-tiny@1", "--out", "x", "--epochs", "1", "--max-steps", "2", ok=False)
    assert both.returncode != 0 and "`epochs` and `max_steps` exclude each other" in both.stderr
    # ... and by the service, naming the field, for a client that sends it anyway.
    from distillery.trainer.client import TrainerClient
    from distillery.v1 import trainer_config_pb2, trainer_pb2

    raw = trainer_pb2.SubmitJobRequest(config=trainer_config_pb2.TrainerConfig(
        dataset="etd-tiny@1", out="x", thought_types=["xot"]))
    address = json.loads((home / "stack.json").read_text())["trainer"]["address"]
    with TrainerClient(address, (home / "token").read_text().strip()) as client, \
            pytest.raises(grpc.RpcError) as refused:
        client.submit(raw)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "thought_types" in refused.value.details()
    missing = cli(env, "train", "--dataset", "no-such-set@1", "--out", "x", "--max-steps", "1", "--json", ok=False)
    assert missing.returncode == 4 and "no-such-set" in missing.stderr  # NOT_FOUND


def test_a_failed_training_job_exits_1_from_train_watch_and_status(stack, tmp_path):
    _, env = stack
    rejected = tmp_path / "all-wrong.jsonl"  # every thought failed verification: nothing to train on
    rejected.write_text("".join(json.dumps({"id": str(i), "question": f"What is {i} + 1?", "thought_type": "cot",
                                            "text": f"{i} + 1 = 0", "correct": False}) + "\n" for i in range(4)))
    cli(env, "registry", "push", "all-wrong", str(rejected), "--stage", "teacher")
    train = cli(env, "train", "--dataset", "all-wrong@1", "--out", "never", "--workers", "1", "--max-steps", "1",
                "--max-failures", "0", *SMALL, ok=False)  # Ray Train would restart the workers for nothing
    # The run failed from its input, and says so: the same job would fail again (nothing retries it).
    assert train.returncode == 1 and "failed (bad input): " in train.stderr and \
        "no training examples" in train.stderr, train.stderr  # FAILED
    job_id = train.stderr.split(":", 1)[0]
    failed = status(env, job_id)  # `trainer status` exits 1 too
    assert (failed["state"], failed["failure_kind"]) == ("JOB_STATE_FAILED", "FAILURE_KIND_BAD_INPUT"), failed
    told = cli(env, "trainer", "status", job_id, ok=False)
    assert told.returncode == 1 and f"trainer: job {job_id} failed (bad input): " in told.stdout, told.stdout
    assert cli(env, "trainer", "watch", job_id, ok=False).returncode == 1


def test_a_seq2seq_student_trains_and_registers(stack, tiny_t5, tmp_path):
    _, env = stack
    from transformers import T5ForConditionalGeneration

    base = tiny_t5  # no T5 weights exist offline: a tiny random one with SmolLM2's tokenizer
    job = json.loads(cli(env, "train", "--dataset", "etd-tiny@1", "--base", str(base), "--out", "student-t5",
                         "--types", "eotd", "--workers", "1", "--max-steps", "3", "--lr", "1e-3", "--json",
                         *SMALL).stdout)
    assert job["state"] == "JOB_STATE_SUCCEEDED" and job["model"] == "default/student-t5@1"
    out = tmp_path / "student-t5"
    cli(env, "registry", "pull", "student-t5@1", "-o", str(out))
    card = json.loads((out / "distillery-student.json").read_text())
    assert card["architecture"] == "seq2seq" and card["recipe"] == "eotd"
    assert T5ForConditionalGeneration.from_pretrained(out).config.d_model == 32


def test_the_ray_adapter_and_the_local_launcher_train_the_same_student(stack, tmp_path):
    """One training core, two launchers: same seed, same data -> same losses, same weights."""
    _, env = stack
    from safetensors.torch import load_file

    common = ["--dataset", "etd-tiny@1", "--max-steps", "2", "--checkpoint-every", "2", "--lr", "1e-3", "--seed", "7",
              "--json", *SMALL]
    on_ray = json.loads(cli(env, "train", *common, "--out", "twin-ray", "--workers", "1").stdout)
    local = json.loads(cli(env, "train", *common, "--out", "twin-local", "--local", "--device", "cpu").stdout)
    validate_output(on_ray, "training-job")
    validate_output(local, "local-training")
    assert on_ray["state"] == "JOB_STATE_SUCCEEDED" and local["model"] == "default/twin-local@1"
    assert on_ray["config"]["max_steps"] == 2 and on_ray["metrics"]["step"] == 2  # integers, not strings
    assert on_ray["metrics"]["first_loss"] == pytest.approx(local["metrics"]["first_loss"], rel=1e-4)
    assert on_ray["metrics"]["loss"] == pytest.approx(local["metrics"]["loss"], rel=1e-4)
    assert on_ray["metrics"]["first_loss"] != pytest.approx(on_ray["metrics"]["loss"], rel=1e-3)  # it trained

    weights = {}
    for name in ("twin-ray", "twin-local"):
        cli(env, "registry", "pull", f"{name}@1", "-o", str(tmp_path / name))
        weights[name] = load_file(str(tmp_path / name / "model.safetensors"))
        lineage = json.loads(cli(env, "registry", "show", f"{name}@1", "--json").stdout)["lineage"]["config"]
        assert lineage["launcher"] == ("ray" if name == "twin-ray" else "local")
    assert weights["twin-ray"].keys() == weights["twin-local"].keys()
    agreeing, total = 0, 0
    for key, tensor in weights["twin-ray"].items():
        a, b = tensor.float(), weights["twin-local"][key].float()
        # AdamW normalises each gradient: an element whose gradient is ~0 can step by up to lr either
        # way on a last-bit difference in float summation order. None may differ by more than that ...
        assert (a - b).abs().max() <= 2 * 2 * 1e-3, key
        agreeing += int(((a - b).abs() <= 1e-5 + 1e-4 * b.abs()).sum())
        total += b.numel()
    assert agreeing / total >= 0.999  # ... and nearly every element agrees tightly


def test_defaults_fit_this_machine_on_the_full_annotations_etd_set(stack, tmp_path):
    """`distillery train` with its defaults (2 workers, batch sized from free memory, max_length
    512) on every GSM8K-train problem's annotation thoughts: Ray's OOM killer ended this before."""
    _, env = stack
    from distillery.teacher.annotations import derive

    problems = tmp_path / "gsm8k-train.jsonl"
    cli(env, "registry", "pull", "gsm8k-train@1", "-o", str(problems))
    rows = []
    for line in problems.read_text().splitlines():
        problem = json.loads(line)
        derivation = derive(problem)
        rows += [{"id": problem["id"], "question": problem["question"], "thought_type": kind, "text": text,
                  "correct": True} for kind, text in (derivation.thoughts or {}).items()]
    assert len(rows) > 20000  # the whole set: its longest thoughts are in it
    dataset = tmp_path / "etd-full.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    cli(env, "registry", "push", "etd-full", str(dataset), "--stage", "teacher")

    job = json.loads(cli(env, "train", "--dataset", "etd-full@1", "--out", "st", "--max-steps", "2", "--json").stdout)
    assert job["state"] == "JOB_STATE_SUCCEEDED", job.get("error")
    metrics = job["metrics"]
    assert metrics["batch_tokens_source"].startswith("auto") and metrics["memory_gib"] > 0
    assert 256 <= metrics["batch_tokens"] <= 8192 and len(job["workers"]) == 2


def test_the_trainer_keeps_each_teams_job_history_across_down_and_up(stack):
    """Last in this module: it restarts the stack (same DISTILLERY_HOME)."""
    home, env = stack
    listed = json.loads(cli(env, "trainer", "jobs", "--json").stdout)
    validate_output(listed, "training-jobs")
    before = {job["id"]: job for job in listed}
    assert len(before) >= 3 and {"JOB_STATE_SUCCEEDED", "JOB_STATE_CANCELLED", "JOB_STATE_FAILED"} <= \
        {j["state"] for j in before.values()}
    assert "FAILURE_KIND_BAD_INPUT" in {j.get("failure_kind") for j in before.values()}  # kept across the restart
    subprocess.run([str(CLI), "down"], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([str(CLI), "up"], env=env, check=True, capture_output=True, timeout=240)

    after = {job["id"]: job for job in json.loads(cli(env, "trainer", "jobs", "--json").stdout)}
    assert after.keys() == before.keys()
    for job_id, job in before.items():
        kept = status(env, job_id)  # and `status` exits with the kept state
        for name in ("state", "model", "error", "failure_kind", "run", "last_checkpoint_step", "resumed_from_step",
                     "config"):
            assert kept.get(name) == job.get(name), (name, kept.get(name), job.get(name))
        assert kept["metrics"].get("step") == job["metrics"].get("step")
    # A team sees only its own history.
    other = cli(env, "team", "create", "bystanders").stdout.strip()
    assert json.loads(cli(env, "trainer", "jobs", "--json", "--token", other).stdout) == []
    refused = cli(env, "trainer", "status", next(iter(before)), "--token", other, ok=False)
    assert refused.returncode == 4 and "NOT_FOUND" in refused.stderr
