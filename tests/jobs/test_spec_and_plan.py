"""Job specs, stage plans and keys, quotas and KubeRay manifests: pure, no services."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillery.jobs.config import Quotas, TeamQuota, quota_refusal
from distillery.jobs.kuberay import rayjob_name
from distillery.jobs.plan import plan_stage, stage_outputs, stages_of
from distillery.v1 import teacher_pb2 as teacher_pb
from distillery.jobs.spec import JobSpec, SpecError, parse_spec

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


SHIPPED = sorted(path.stem for path in PIPELINES.glob("*.yaml"))


def test_every_pipeline_is_checked():
    assert set(SHIPPED) >= {"local", "etd", "eotd", "potd", "cotd", "etd-augmented"}


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_pipelines_are_valid_specs(name):
    spec = parse_spec((PIPELINES / f"{name}.yaml").read_text(), name)
    recipe = spec.student.recipe
    assert recipe == ("etd" if name in ("local", "etd-augmented") else name)
    # The annotations teacher's default format and the default guard, stated in the comments.
    text = (PIPELINES / f"{name}.yaml").read_text()
    assert spec.teacher.model == "gold-annotations-v2" and "gold-annotations-v1" in text
    assert spec.teacher.contamination_guard == ("gsm8k-test", "svamp", "asdiv", "multiarith")
    assert spec.teacher.variants == (10 if name == "etd-augmented" else 0)
    if recipe != "etd":  # a single-type student needs only its own thoughts and is scored on them
        assert spec.teacher.thought_types == (recipe[:3],) and spec.evaluation.methods == [recipe[:3]]


@pytest.mark.parametrize("text, message", [
    ("name: x\nstudent: {workers: 0}", "student.workers: Input should be greater than or equal to 1"),
    ("name: x\nstudent: {wokers: 2}", "student.wokers: Extra inputs are not permitted"),
    ("name: x\nteacher: {backend: vllm}", "teacher: model: backend 'vllm' needs `model`"),
    ("name: x\nevaluation: {benchmarks: [gsm8k, mmlu]}", "evaluation.benchmarks.1: Input should be"),
    ("name: Bad Name", "name 'Bad Name'"),
    ("problems: {limit: 3}", "name: Field required"),
    ("name: x\nstudent: {epochs: 1, max_steps: 3}", "`epochs` and `max_steps` exclude each other"),
    ("- just\n- a list", "a job spec is a mapping"),
    ("name: [unclosed", "not YAML/JSON"),
    ("name: x\nteacher: {backend: openai, model: m}", "needs `pool` (one the operator configured) or `endpoint`"),
    ("name: x\nteacher: {pool: Vllm}", "teacher.pool: String should match pattern"),
    ("name: x\nteacher: {pool: vllm, endpoint: 'https://a.example/v1', model: m}", "not both"),
    ("name: x\nteacher: {backend: hf, model: smollm2-135m-instruct, pool: vllm}", "teacher: pool: only for backend 'openai', not 'hf'"),
    ("name: x\nteacher: {endpoint: 'http://user:pw@a.example/v1', model: m}",
     "teacher.endpoint: must not carry credentials"),
    ("name: x\nteacher: {variants: -1}", "teacher.variants: Input should be greater than or equal to 0"),
    ("name: x\nteacher: {variants: 65}", "teacher.variants: Input should be less than or equal to 64"),
    ("name: x\nteacher: {contamination_guard: [Svamp]}", "teacher.contamination_guard: 'Svamp' is not"),
    ("name: x\nteacher: {contamination_guard: [svamp@1]}", "'svamp@1' is not a dataset name"),
    ("name: x\nteacher: {contamination_guard: [default/svamp]}", "'default/svamp' is not a dataset name"),
    ("name: x\nteacher: {contamination_guard: [svamp, svamp]}", "teacher.contamination_guard: repeats"),
    ("name: x\nteacher: {contamination_guard: svamp}", "teacher.contamination_guard: Input should be a valid tuple"),
    ("name: x\nteacher: {model: gold-annotations-v3}",
     "teacher: model: the annotations teacher has versions gold-annotations-v1, gold-annotations-v2"),
    ("name: x\nteacher: {backend: annotations, model: smollm2-135m-instruct}",
     "teacher: model: the annotations teacher has versions"),
    ("name: x\nteacher: {thought_types: [eot, pot]}\nstudent: {recipe: etd}",
     "student.thought_types (recipe etd: cot, pot, eot) needs cot thoughts, which teacher.thought_types (eot, pot)"),
])
def test_bad_specs_are_refused_with_the_path_of_the_field(text, message):
    with pytest.raises(SpecError) as refused:
        parse_spec(text, "job.yaml")
    assert message in str(refused.value) and str(refused.value).startswith("job.yaml: ")


@pytest.mark.parametrize("name", ["etd", "eotd", "potd", "cotd"])
def test_the_llm_teacher_of_the_pipelines_is_a_pool_by_name(name):
    """The commented LLM teacher in each pipeline is a valid spec that names the chart's pool, no URL."""
    lines = (PIPELINES / f"{name}.yaml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#   teacher: "))
    example = "\n".join(line[2:] for line in lines[start:] if line.startswith("#  "))
    spec = parse_spec(f"name: x\n{example.strip()}\nstudent: {{recipe: {name}}}")
    assert spec.teacher.backend == "openai" and spec.teacher.pool == "vllm" and spec.teacher.endpoint is None
    job = plan_stage(spec, "teacher", "t/gsm8k-train@1", {}).request.teacher.config
    assert job.pool == "vllm" and job.endpoint == "" and job.backend == "openai"


def test_the_teacher_request_carries_variants_the_guard_and_the_annotation_format():
    from distillery.teacher.servicer import job_config

    def teacher_job(text: str):
        return plan_stage(parse_spec(text), "teacher", "t/gsm8k-train@1", {}).request.teacher.config

    default = teacher_job("name: x")
    assert default.variants == 0 and default.model == "gold-annotations-v2" and default.out == "x-thoughts"
    assert list(default.contamination_guard) == ["gsm8k-test", "svamp", "asdiv", "multiarith"]
    assert not default.no_contamination_guard
    assert not default.sampling.HasField("temperature")  # the annotations teacher records no temperature
    chosen = teacher_job("name: x\nteacher: {variants: 10, model: gold-annotations-v1, contamination_guard: [mine]}")
    assert chosen.variants == 10 and chosen.model == "gold-annotations-v1"
    assert list(chosen.contamination_guard) == ["mine"] and not chosen.no_contamination_guard
    off = teacher_job("name: x\nteacher: {contamination_guard: []}")
    assert off.no_contamination_guard and not off.contamination_guard
    # Every one of them is part of the teacher stage's key (a different dataset comes out).
    keys = {plan_stage(parse_spec(text), "teacher", "t/gsm8k-train@1", {}).key for text in (
        "name: x", "name: x\nteacher: {variants: 10}", "name: x\nteacher: {contamination_guard: []}",
        "name: x\nteacher: {model: gold-annotations-v1}")}
    assert len(keys) == 4
    assert (plan_stage(parse_spec("name: x"), "teacher", "t/gsm8k-train@1", {}).key
            == plan_stage(parse_spec("name: x\nteacher: {model: gold-annotations-v2}"), "teacher",
                          "t/gsm8k-train@1", {}).key)  # the default is the v2 format, named or not
    # The teacher service reads the request as planned.
    for job, variants in ((default, 0), (chosen, 10), (off, 0)):
        assert job_config(teacher_pb.TeacherJob(config=job)).variants == variants


def test_json_specs_work_too():
    assert parse_spec(json.dumps({"name": "j", "student": {"max_steps": 3}})).student.max_steps == 3


def _plans(spec: JobSpec, outputs=None):
    outputs = outputs or {"teacher": "t/x-thoughts@1", "train": "t/x-student@1"}
    return {s: plan_stage(spec, s, "t/gsm8k-train@1", outputs, (8000, 9000)) for s in stages_of(spec)}


def test_stages_follow_the_spec_and_requests_carry_its_settings():
    spec = parse_spec((PIPELINES / "local.yaml").read_text())
    plans = _plans(spec)
    assert list(plans) == ["teacher", "train", "eval-base", "eval", "serve"]
    teacher = plans["teacher"].request.teacher.config
    assert teacher.problems == "t/gsm8k-train@1" and teacher.limit == spec.problems.limit
    train = plans["train"].request.train.config
    assert train.dataset == "t/x-thoughts@1" and train.max_steps == 30 and train.out == "etd-local-student"
    assert plans["eval-base"].request.eval.model == "smollm2-135m-instruct"
    assert plans["eval"].request.eval.model == "t/x-student@1"
    serve = plans["serve"]
    assert serve.key is None and serve.request.serve.model == "t/x-student@1" and serve.request.serve.name == "etd-local"
    assert serve.request.serve.http_port == 8000 and serve.request.serve.backend == "hf"
    undeployed = spec.model_copy(update={"deploy": spec.deploy.model_copy(update={"enabled": False}),
                                         "evaluation": spec.evaluation.model_copy(update={"baseline": False})})
    assert list(_plans(undeployed)) == ["teacher", "train", "eval"]


def test_every_student_field_of_the_spec_reaches_the_trainer_request():
    """The spec's student section is the trainer's own config: what it says arrives typed."""
    from distillery.core.pydantic_proto import from_message
    from distillery.trainer.trainer_config import TrainerConfig

    spec = parse_spec("name: x\nstudent: {recipe: potd, gpu: true, workers: 3, lora: {r: 4, alpha: 8}, "
                      "max_steps: 7, learning_rate: 0.001, bf16: false, seed: 5, weight_decay: 0.1}")
    config = from_message(_plans(spec)["train"].request.train.config, TrainerConfig)
    assert config == spec.student.to_trainer_config("t/x-thoughts@1", "x-student")
    assert (config.thought_types, config.use_gpu, config.workers, config.lora.r, config.lora.alpha) == (
        ("pot",), True, 3, 4, 8)
    assert (config.max_steps, config.epochs, config.learning_rate, config.bf16, config.seed) == (7, None, 0.001,
                                                                                                 False, 5)


def test_stage_keys_change_exactly_with_their_inputs():
    spec = parse_spec("name: a\nstudent: {max_steps: 5}")
    base = _plans(spec)
    renamed = _plans(spec.model_copy(update={"name": "b"}))
    assert base["teacher"].key == renamed["teacher"].key  # the name is not an input of the result ...
    more_steps = _plans(parse_spec("name: a\nstudent: {max_steps: 6}"))
    assert more_steps["teacher"].key == base["teacher"].key and more_steps["train"].key != base["train"].key
    new_data = _plans(spec, {"teacher": "t/x-thoughts@2", "train": "t/x-student@1"})
    assert new_data["train"].key != base["train"].key and new_data["eval"].key == base["eval"].key


def test_a_stage_outputs_what_its_typed_result_made():
    from distillery.v1 import jobs_pb2, teacher_pb2, trainer_pb2

    made = jobs_pb2.StageResult(teacher=teacher_pb2.TeacherJobEvent(result=teacher_pb2.TeacherJobResult(dataset="t/x@1")))
    assert stage_outputs("teacher", made) == {"dataset": "t/x@1"}
    assert stage_outputs("train", jobs_pb2.StageResult(train=trainer_pb2.TrainJob(model="t/m@2"))) == {"model": "t/m@2"}
    with pytest.raises(ValueError, match="stage train reported an empty result"):
        stage_outputs("train", jobs_pb2.StageResult())


def test_quotas_name_the_limit_a_job_would_exceed():
    gpu_job = parse_spec("name: g\nstudent: {workers: 4, gpu: true}")
    quota = TeamQuota(max_concurrent_jobs=3, max_gpus=6, max_workers=16)
    assert quota_refusal(quota, [gpu_job], gpu_job, "vision") == (
        "max_gpus", "team 'vision' quota max_gpus=6: 4 in use by its active jobs, this job asks for 4")
    assert quota_refusal(quota, [], gpu_job, "vision") is None
    cpu_job = parse_spec("name: c")
    assert quota_refusal(quota, [cpu_job] * 3, cpu_job, "vision")[0] == "max_concurrent_jobs"
    quotas = Quotas(default=TeamQuota(max_concurrent_jobs=1), teams={"big": TeamQuota(max_concurrent_jobs=9)})
    assert quotas.of("big").max_concurrent_jobs == 9 and quotas.of("other").max_concurrent_jobs == 1


def test_a_rayjob_name_is_dns_safe():
    assert rayjob_name("Job_ABC-teacher-1") == "job-abc-teacher-1"
    assert len(rayjob_name("x" * 100)) == 63


@pytest.mark.parametrize("text, field", [
    ("name: x\nstudent: {base: /srv/distillery/models/registry/beta/secret/1}", "student.base"),
    ("name: x\nstudent: {base: ../beta/secret}", "student.base"),
    ("name: x\nstudent: {base: '~/models/x'}", "student.base"),
    ("name: x\nteacher: {backend: hf, model: /root/.distillery/models/cache/sha256-ab12}", "teacher.model"),
    ("name: x\nteacher: {backend: vllm, model: ./models}", "teacher.model"),
])
def test_a_spec_names_models_by_alias_or_registry_reference_only(text, field):
    """Issue 14 s.3: a path in a spec would load whatever that path holds on a shared node
    (another team's cached model) -- refused, naming the field."""
    with pytest.raises(SpecError) as refused:
        parse_spec(text, "job.yaml")
    assert f"{field}: " in str(refused.value) and "directories are not accepted" in str(refused.value)
    spec = parse_spec("name: x\nstudent: {base: beta/secret@2}\nteacher: {backend: hf, model: my-teacher@1}")
    plans = _plans(spec)
    assert plans["train"].request.train.config.base == "beta/secret@2"
    assert plans["eval-base"].request.eval.model == "beta/secret@2"


def test_job_records_round_trip_with_their_typed_stage_messages_and_read_older_records():
    from distillery.jobs.records import JobRecord, StageRecord
    from distillery.v1 import jobs_pb2

    spec = parse_spec("name: x")
    request = _plans(spec)["train"].request
    request.run_id = "job-1-train-1"
    record = JobRecord(id="job-1", team="t", name="x", spec=spec.model_dump(mode="json"), problems="t/p@1",
                       backend="ray", token="sealed",
                       stages=[StageRecord("teacher", state="reused", outputs={"dataset": "t/x-thoughts@1"}),
                               StageRecord("train", state="running", attempts=1, run_id="job-1-train-1",
                                           request=request,
                                           report=jobs_pb2.StageRunReport(run_id="job-1-train-1", error="boom"))])
    again = JobRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record and again.stage("train").report.error == "boom"
    assert again.stage("train").request.train.config.dataset == "t/x-thoughts@1"
    assert again.public_copy().token == "" and record.token == "sealed"
    # A record written before stages were typed (no request / report / result) still loads.
    old = {"id": "job-0", "team": "t", "name": "x", "spec": {"name": "x"}, "problems": "t/p@1", "backend": "ray",
           "token": "sealed", "state": "succeeded", "stages": [{"name": "teacher", "state": "succeeded",
                                                                 "outputs": {"dataset": "t/d@1"}}],
           "events": [{"at": 1.0, "message": "submitted"}], "version": 3}
    loaded = JobRecord.from_dict(old)
    assert loaded.stage("teacher").done and loaded.stage("teacher").request is None and loaded.events[0].at == 1.0
