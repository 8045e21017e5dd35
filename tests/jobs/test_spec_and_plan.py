"""Job specs, stage plans and keys, quotas and KubeRay manifests: pure, no services."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from distillery.jobs.config import Quotas, TeamQuota, quota_refusal
from distillery.jobs.kuberay import rayjob_manifest, rayjob_name
from distillery.jobs.plan import plan_stage, stage_output, stages_of
from distillery.jobs.spec import JobSpec, SpecError, parse_spec
from tests.crds import validate_custom_resource

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
    assert spec.teacher.contamination_guard == ["gsm8k-test", "svamp", "asdiv", "multiarith"]
    assert spec.teacher.variants == (10 if name == "etd-augmented" else 0)
    if recipe != "etd":  # a single-type student needs only its own thoughts and is scored on them
        assert spec.teacher.thought_types == [recipe[:3]] and spec.evaluation.methods == [recipe[:3]]


@pytest.mark.parametrize("text, message", [
    ("name: x\nstudent: {workers: 0}", "student.workers: Input should be greater than or equal to 1"),
    ("name: x\nstudent: {wokers: 2}", "student.wokers: Extra inputs are not permitted"),
    ("name: x\nteacher: {backend: vllm}", "teacher: backend 'vllm' needs `model`"),
    ("name: x\nevaluation: {benchmarks: [gsm8k, mmlu]}", "evaluation.benchmarks.1: Input should be"),
    ("name: Bad Name", "name 'Bad Name'"),
    ("problems: {limit: 3}", "name: Field required"),
    ("name: x\nstudent: {epochs: 1, max_steps: 3}", "`epochs` and `max_steps` exclude each other"),
    ("- just\n- a list", "a job spec is a mapping"),
    ("name: [unclosed", "not YAML/JSON"),
    ("name: x\nteacher: {backend: openai, model: m}", "needs `pool` (one the operator configured) or `endpoint`"),
    ("name: x\nteacher: {pool: Vllm}", "teacher.pool: String should match pattern"),
    ("name: x\nteacher: {pool: vllm, endpoint: 'https://a.example/v1', model: m}", "not both"),
    ("name: x\nteacher: {backend: hf, model: smollm2-135m-instruct, pool: vllm}", "`pool` is for backend 'openai'"),
    ("name: x\nteacher: {endpoint: 'http://user:pw@a.example/v1', model: m}",
     "teacher.endpoint: must not carry credentials"),
    ("name: x\nteacher: {variants: -1}", "teacher.variants: Input should be greater than or equal to 0"),
    ("name: x\nteacher: {variants: 65}", "teacher.variants: Input should be less than or equal to 64"),
    ("name: x\nteacher: {contamination_guard: [Svamp]}", "teacher.contamination_guard: 'Svamp' is not"),
    ("name: x\nteacher: {contamination_guard: [svamp@1]}", "'svamp@1' is not a dataset name"),
    ("name: x\nteacher: {contamination_guard: [default/svamp]}", "'default/svamp' is not a dataset name"),
    ("name: x\nteacher: {contamination_guard: [svamp, svamp]}", "teacher.contamination_guard: repeats"),
    ("name: x\nteacher: {contamination_guard: svamp}", "teacher.contamination_guard: Input should be a valid list"),
    ("name: x\nteacher: {model: gold-annotations-v3}",
     "teacher: model: the annotations teacher has versions gold-annotations-v1, gold-annotations-v2"),
    ("name: x\nteacher: {backend: annotations, model: smollm2-135m-instruct}",
     "teacher: model: the annotations teacher has versions"),
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
    spec = parse_spec(f"name: x\n{example.strip()}")
    assert spec.teacher.backend == "openai" and spec.teacher.pool == "vllm" and spec.teacher.endpoint is None
    args = plan_stage(spec, "teacher", "t/gsm8k-train@1", {}).args
    assert args[args.index("--pool") + 1] == "vllm" and "--endpoint" not in args


def test_the_teacher_command_carries_variants_the_guard_and_the_annotation_format():
    def teacher_args(text: str) -> list[str]:
        return plan_stage(parse_spec(text), "teacher", "t/gsm8k-train@1", {}).args

    def values(args: list[str], flag: str) -> list[str]:
        return [args[i + 1] for i, arg in enumerate(args) if arg == flag]

    default = teacher_args("name: x")
    assert values(default, "--variants") == ["0"] and values(default, "--model") == ["gold-annotations-v2"]
    assert values(default, "--guard") == ["gsm8k-test", "svamp", "asdiv", "multiarith"] and "--no-guard" not in default
    chosen = teacher_args("name: x\nteacher: {variants: 10, model: gold-annotations-v1, contamination_guard: [mine]}")
    assert values(chosen, "--variants") == ["10"] and values(chosen, "--model") == ["gold-annotations-v1"]
    assert values(chosen, "--guard") == ["mine"] and "--no-guard" not in chosen
    off = teacher_args("name: x\nteacher: {contamination_guard: []}")
    assert "--no-guard" in off and "--guard" not in off
    # Every one of them is part of the teacher stage's key (a different dataset comes out).
    keys = {plan_stage(parse_spec(text), "teacher", "t/gsm8k-train@1", {}).key for text in (
        "name: x", "name: x\nteacher: {variants: 10}", "name: x\nteacher: {contamination_guard: []}",
        "name: x\nteacher: {model: gold-annotations-v1}")}
    assert len(keys) == 4
    assert (plan_stage(parse_spec("name: x"), "teacher", "t/gsm8k-train@1", {}).key
            == plan_stage(parse_spec("name: x\nteacher: {model: gold-annotations-v2}"), "teacher",
                          "t/gsm8k-train@1", {}).key)  # the default is the v2 format, named or not
    # The CLI the stage runs accepts the command as planned.
    from distillery.cli.teacher import generate_command

    for args in (default, chosen, off):
        assert generate_command.make_context("generate", args[2:]).params["variants"] in (0, 10)


def test_json_specs_work_too():
    assert parse_spec(json.dumps({"name": "j", "student": {"max_steps": 3}})).student.max_steps == 3


def _plans(spec: JobSpec, outputs=None):
    outputs = outputs or {"teacher": "t/x-thoughts@1", "train": "t/x-student@1"}
    return {s: plan_stage(spec, s, "t/gsm8k-train@1", outputs, (8000, 9000)) for s in stages_of(spec)}


def test_stages_follow_the_spec_and_commands_carry_its_settings():
    spec = parse_spec((PIPELINES / "local.yaml").read_text())
    plans = _plans(spec)
    assert list(plans) == ["teacher", "train", "eval-base", "eval", "serve"]
    assert plans["teacher"].args[:4] == ["teacher", "generate", "--problems", "t/gsm8k-train@1"]
    assert "--limit" in plans["teacher"].args and plans["teacher"].args[-1] == "--json"
    train = plans["train"].args
    assert train[train.index("--dataset") + 1] == "t/x-thoughts@1" and train[train.index("--max-steps") + 1] == "30"
    assert plans["eval-base"].args[2] == "smollm2-135m-instruct" and plans["eval"].args[2] == "t/x-student@1"
    serve = plans["serve"]
    assert serve.key is None and serve.args[:4] == ["serve", "t/x-student@1", "--name", "etd-local"]
    assert "8000" in serve.args and serve.args[serve.args.index("--backend") + 1] == "hf"
    undeployed = spec.model_copy(update={"deploy": spec.deploy.model_copy(update={"enabled": False}),
                                         "evaluation": spec.evaluation.model_copy(update={"baseline": False})})
    assert list(_plans(undeployed)) == ["teacher", "train", "eval"]


def test_stage_keys_change_exactly_with_their_inputs():
    spec = parse_spec("name: a\nstudent: {max_steps: 5}")
    base = _plans(spec)
    renamed = _plans(spec.model_copy(update={"name": "b"}))
    assert base["teacher"].key == renamed["teacher"].key  # the name is not an input of the result ...
    more_steps = _plans(parse_spec("name: a\nstudent: {max_steps: 6}"))
    assert more_steps["teacher"].key == base["teacher"].key and more_steps["train"].key != base["train"].key
    new_data = _plans(spec, {"teacher": "t/x-thoughts@2", "train": "t/x-student@1"})
    assert new_data["train"].key != base["train"].key and new_data["eval"].key == base["eval"].key


def test_a_stage_result_is_the_last_json_line_with_its_field():
    log = "progress...\n{\"dataset\": \"t/x@1\", \"accepted\": {}}\nWARNING late noise\n"
    assert stage_output("teacher", log)["dataset"] == "t/x@1"
    with pytest.raises(ValueError, match="printed no JSON result with 'model'"):
        stage_output("train", log)


def test_quotas_name_the_limit_a_job_would_exceed():
    gpu_job = parse_spec("name: g\nstudent: {workers: 4, gpu: true}")
    quota = TeamQuota(max_concurrent_jobs=3, max_gpus=6, max_workers=16)
    assert quota_refusal(quota, [gpu_job], gpu_job, "vision") == (
        "team 'vision' quota max_gpus=6: 4 in use by its active jobs, this job asks for 4")
    assert quota_refusal(quota, [], gpu_job, "vision") is None
    cpu_job = parse_spec("name: c")
    assert "max_concurrent_jobs=3" in quota_refusal(quota, [cpu_job] * 3, cpu_job, "vision")
    quotas = Quotas(default=TeamQuota(max_concurrent_jobs=1), teams={"big": TeamQuota(max_concurrent_jobs=9)})
    assert quotas.of("big").max_concurrent_jobs == 9 and quotas.of("other").max_concurrent_jobs == 1


@pytest.mark.parametrize("gpu", [False, True])
def test_kuberay_rayjobs_are_valid_against_the_crd_and_queued_by_kueue(gpu):
    spec = parse_spec(f"name: a\nstudent: {{workers: 2, gpu: {str(gpu).lower()}}}")
    for stage, plan in _plans(spec).items():
        manifest = rayjob_manifest(run_id=f"job-0123456789ab-{stage}-1", team="vision", job_id="job-0123456789ab",
                                   plan=plan, namespace="distillery-vision", queue="vision",
                                   image="ghcr.io/distillery/distillery:0.1.0",
                                   service_env={"DISTILLERY_REGISTRY": "registry:50052"},
                                   token_secret="distillery-team-token")
        validate_custom_resource(manifest)
        assert manifest["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "vision"
        assert manifest["spec"]["suspend"] is True  # Kueue admits it
        assert manifest["spec"]["entrypoint"].startswith("distillery " + " ".join(plan.args[:2]))
        env = manifest["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "DISTILLERY_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": "distillery-team-token", "key": "token"}}} in env and "dst_" not in json.dumps(manifest)
        assert "workerGroupSpecs" not in manifest["spec"]["rayClusterSpec"]  # stages drive the services
        head = manifest["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        assert head["securityContext"]["readOnlyRootFilesystem"] and head["volumeMounts"][0]["mountPath"] == "/tmp"
        on_gpu = "nvidia.com/gpu" in head["resources"]["limits"]
        assert on_gpu == (gpu and stage in ("eval-base", "eval"))  # evaluation generates on the driver
    broken = rayjob_manifest(run_id="x", team="t", job_id="j", plan=_plans(spec)["teacher"], namespace="n",
                             queue="q", image="i", service_env={}, token_secret="s")
    broken["spec"]["entrypont"] = broken["spec"].pop("entrypoint")  # a typo the API server would refuse
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(broken)
    assert rayjob_name("Job_ABC-teacher-1") == "job-abc-teacher-1"


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
    # The stages run the CLI on the cluster for the tenant: no path fallback there either.
    assert "--no-local-paths" in plans["train"].args and "--no-local-paths" in plans["eval-base"].args
    assert plans["eval-base"].args[2] == "beta/secret@2"
