"""Issue 14 section 3: one team must not use another team's model by naming a directory.

Two teams on the evaluation stack (a real S3 server process, the registry and verifier on
loopback gRPC) plus the real teacher and trainer services on loopback, in this process. The
owner pushes a small causal model, unshared, and uses it (the node's cache then holds it); the
intruder names that cache, the legacy cache path and a plain directory in every field that names
a model, then the owner's model by its registry reference. Everything is refused with the field
named; nothing lands in the intruder's namespace; the owner still works, and the CLI's own
process still evaluates a local directory.
"""

from __future__ import annotations

import json
import shutil
import uuid

import grpc
import pytest

from distillery.student.model_refs import resolve_student
from distillery.registry.client import RegistryClient, header
from distillery.registry.principals import PrincipalCache
from distillery.v1 import teacher_pb2 as teacher_pb
from distillery.v1 import teacher_config_pb2 as teacher_config_pb
from tests.evaluation.conftest import ADMIN_TOKEN

QUESTION = teacher_pb.Problem(id="p1", question="Tom has 3 apples and buys 4 more. How many apples does he have?")
DENIED = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)


@pytest.fixture(scope="module")
def tiny_llama(smollm2, tmp_path_factory):
    """A tiny randomly initialised causal LM with SmolLM2's tokenizer: the owner's secret model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    torch.manual_seed(1)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
                                         eos_token_id=tokenizer.eos_token_id))
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def teams(stack, tiny_llama, models_dir):
    """The owner (its own team) with an unshared model it has used once; the intruder is `evals`."""
    owner_team = f"owners-{uuid.uuid4().hex[:6]}"
    with RegistryClient(stack.registry, ADMIN_TOKEN) as admin:
        owner = admin.create_team(owner_team)
    with RegistryClient(stack.registry, owner) as registry:
        manifest = registry.push_files(header("secret", "model", stage="train"), tiny_llama)
        cached = resolve_student(manifest.ref, registry).path  # the owner's use fills the node's cache
    with RegistryClient(stack.registry, stack.token) as registry:  # the intruder's own thought dataset
        registry.push(header("access-thoughts", "dataset"), [json.dumps(
            {"id": "p1", "thought_type": "pot", "text": "ans = 7", "gold": 7, "question": QUESTION.question}).encode()])
    # Where today's code caches it: models/registry/TEAM/NAME/VERSION, guessable by anyone.
    legacy = models_dir / "registry" / owner_team / "secret" / str(manifest.version)
    if not legacy.exists():
        shutil.copytree(tiny_llama, legacy)
    return {"owner": owner, "ref": manifest.ref, "cached": cached, "legacy": legacy}


@pytest.fixture(scope="module")
def teacher(stack, tmp_path_factory):
    from distillery.teacher.server import create_teacher_server

    handle = create_teacher_server("127.0.0.1:0", stack.registry, stack.verifier,
                                   tmp_path_factory.mktemp("teacher-work"), PrincipalCache(stack.registry))
    yield f"127.0.0.1:{handle.port}"
    handle.stop(grace_s=1)


@pytest.fixture(scope="module")
def trainer(stack):
    """The trainer service, with no slot to run jobs: one that passed its checks would only queue
    (no Ray here); none should."""
    from distillery.core.grpc_server import create_server
    from distillery.core.s3 import S3Config
    from distillery.trainer.job_manager import JobManager
    from distillery.trainer.servicer import TrainerServicer
    from distillery.v1 import trainer_pb2_grpc

    servicer = TrainerServicer(PrincipalCache(stack.registry), JobManager(stack.registry, S3Config(bucket="unused"),
                                                                          concurrent_jobs=0))
    handle = create_server("127.0.0.1:0", lambda s: trainer_pb2_grpc.add_TrainerServiceServicer_to_server(servicer, s),
                           ["distillery.v1.TrainerService"], PrincipalCache(stack.registry))
    yield f"127.0.0.1:{handle.port}", servicer
    handle.stop(grace_s=1)


def generate(teacher: str, token: str, model: str) -> list[teacher_pb.GeneratedThought]:
    from distillery.teacher.client import TeacherClient

    with TeacherClient(teacher, token) as client:
        return list(client.generate(teacher_pb.GenerateRequest(problems=[QUESTION], generation=teacher_config_pb.TeacherGeneration(
            backend="hf", model=model, thought_types=["pot"], samples=1,
            sampling=teacher_config_pb.Sampling(temperature=0, max_tokens=4), no_contamination_guard=True))))


def submit_training(trainer: str, token: str, base: str):
    """A raw request, as any gRPC client may send it: the service's own checks must hold."""
    from distillery.trainer.client import TrainerClient
    from distillery.v1 import trainer_config_pb2, trainer_pb2

    config = trainer_config_pb2.TrainerConfig(dataset="access-thoughts", base=base, out="stolen", max_steps=1)
    with TrainerClient(trainer, token) as client:
        return client.submit(trainer_pb2.SubmitJobRequest(config=config))


def intruder_names(stack) -> set[str]:
    with RegistryClient(stack.registry, stack.token) as registry:
        return {m.name for m in registry.list()}


def paths(teams) -> list[str]:
    return [str(teams["cached"]), str(teams["legacy"]), str(teams["legacy"].parent.parent)]


def test_a_path_is_refused_wherever_a_tenant_names_a_model(stack, teams, teacher, trainer):
    before = intruder_names(stack)
    for path in paths(teams):
        with pytest.raises(grpc.RpcError) as refused:
            generate(teacher, stack.token, path)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert refused.value.details().startswith("model:") and "directories are not accepted" in refused.value.details()

        from distillery.teacher.client import TeacherClient

        with TeacherClient(teacher, stack.token) as client, pytest.raises(grpc.RpcError) as refused:
            list(client.run_job(teacher_pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="svamp@1", backend="hf", model=path, out="stolen",
                                                      limit=1, thought_types=["pot"]))))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "model:" in refused.value.details()

        with pytest.raises(grpc.RpcError) as refused:
            submit_training(trainer[0], stack.token, path)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert "base" in refused.value.details() and "directories are not accepted" in refused.value.details()

        # eval as the jobs controller runs it for a tenant (the eval-base stage of student.base).
        result = stack.cli("eval", "--model", path, "--no-local-paths", "--benchmarks", "svamp", "--limit", "1",
                           "--methods", "pot")
        assert result.returncode != 0 and "model: " in result.stderr and "not accepted" in result.stderr, result.stderr
    assert intruder_names(stack) == before  # nothing written into the intruder's namespace
    assert trainer[1].jobs.list("evals") == []


def test_another_teams_unshared_model_is_denied_by_reference(stack, teams, teacher, trainer):
    before = intruder_names(stack)
    with pytest.raises(grpc.RpcError) as refused:
        generate(teacher, stack.token, teams["ref"])
    assert refused.value.code() in DENIED and refused.value.details().startswith("model:")
    with pytest.raises(grpc.RpcError) as refused:
        submit_training(trainer[0], stack.token, teams["ref"])
    assert refused.value.code() in DENIED and refused.value.details().startswith("base:")
    result = stack.cli("eval", "--model", teams["ref"], "--benchmarks", "svamp", "--limit", "1", "--methods", "pot")
    assert result.returncode != 0 and teams["ref"].split("@")[0] in result.stderr
    with RegistryClient(stack.registry, stack.token) as registry, pytest.raises((grpc.RpcError, ValueError)):
        resolve_student(teams["ref"], registry)
    assert intruder_names(stack) == before
    assert trainer[1].jobs.list("evals") == []


def test_the_owner_still_uses_its_model_and_the_cache_names_no_team(stack, teams, teacher, models_dir):
    thoughts = generate(teacher, teams["owner"], teams["ref"])
    assert len(thoughts) == 1 and thoughts[0].thought_type == "pot"
    cached = teams["cached"]
    # Content-addressed: neither the team nor the model's name is part of the path.
    assert cached.parent == models_dir / "cache" and cached.name.startswith("sha256-")
    assert "owners" not in str(cached.relative_to(models_dir)) and "secret" not in cached.name
    with RegistryClient(stack.registry, teams["owner"]) as registry:
        assert resolve_student("secret", registry).path == cached  # reused after the registry said yes


def test_the_cli_process_still_evaluates_a_local_directory(stack, tiny_llama, tmp_path):
    result = stack.cli("eval", "--model", str(tiny_llama), "--benchmarks", "svamp", "--limit", "1", "--methods", "pot",
                       "--max-new-tokens", "4", "--backend", "hf", "--out", "eval-local-dir", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1])["model"] == str(tiny_llama)
