"""The teacher job's options for the annotation format, problem variants and the contamination
guard, through every layer that carries them: the job config, the proto request (as the service
translates it), the CLI's flags, the progress it streams. Pure: no services."""

from __future__ import annotations

import click
import pytest
from pydantic import ValidationError

from distillery.cli.teacher import generate_command, progress_extras, teacher_job
from distillery.core.errors import field_errors
from distillery.teacher.config import (ANNOTATION_VERSIONS, DEFAULT_ANNOTATION_VERSION, DEFAULT_CONTAMINATION_GUARD,
                                       TeacherJobConfig)
from distillery.teacher.errors import missing_guard_dataset
from distillery.teacher.job import JobProgress
from distillery.teacher.servicer import job_config, progress_to_pb
from distillery.v1 import teacher_pb2 as pb
from distillery.v1 import teacher_config_pb2 as teacher_config_pb

GUARD = ("gsm8k-test", "svamp", "asdiv", "multiarith")


def refusal(**fields) -> str:
    with pytest.raises(ValidationError) as refused:
        TeacherJobConfig(problems="gsm8k-train@1", out="x", **fields)
    return field_errors(refused.value.errors(), whole="job")


def test_the_defaults_are_the_v2_format_no_variants_and_the_four_evaluation_sets():
    config = TeacherJobConfig(problems="gsm8k-train@1", out="x")
    assert ANNOTATION_VERSIONS == ("gold-annotations-v1", "gold-annotations-v2")
    assert config.model == DEFAULT_ANNOTATION_VERSION == "gold-annotations-v2"  # recorded, not left unset
    assert config.variants == 0 and config.contamination_guard == DEFAULT_CONTAMINATION_GUARD == GUARD
    assert TeacherJobConfig(problems="p@1", out="x", model="gold-annotations-v1").model == "gold-annotations-v1"
    assert TeacherJobConfig(problems="p@1", out="x", contamination_guard=()).contamination_guard == ()
    assert TeacherJobConfig(problems="p@1", out="x", variants=64).variants == 64
    # The format is part of the job's identity (and lineage): another format is another job.
    dumped = config.model_dump(mode="json")
    assert dumped["model"] == "gold-annotations-v2" and dumped["contamination_guard"] == list(GUARD)


@pytest.mark.parametrize("fields, message", [
    ({"model": "gold-annotations-v3"},
     "job: model: the annotations teacher has versions gold-annotations-v1, gold-annotations-v2"),
    ({"model": "smollm2-135m-instruct"}, "model: the annotations teacher has versions"),
    ({"variants": -1}, "variants: Input should be greater than or equal to 0"),
    ({"variants": 65}, "variants: Input should be less than or equal to 64"),
    ({"contamination_guard": ("Svamp",)}, "contamination_guard: 'Svamp' is not a dataset name"),
    ({"contamination_guard": ("svamp@1",)}, "contamination_guard: 'svamp@1' is not a dataset name"),
    ({"contamination_guard": ("other/svamp",)}, "contamination_guard: 'other/svamp' is not a dataset name"),
    ({"contamination_guard": ("svamp", "svamp")}, "contamination_guard: repeats a dataset"),
    ({"contamination_guard": ("",)}, "contamination_guard: '' is not a dataset name"),
])
def test_bad_options_are_refused_naming_the_field(fields, message):
    assert message in refusal(**fields)


def test_other_backends_keep_their_own_models():
    hf = TeacherJobConfig(problems="p@1", out="x", backend="hf", model="smollm2-135m-instruct")
    assert hf.model == "smollm2-135m-instruct"
    assert "job: model: backend 'vllm' needs `model`" in refusal(backend="vllm")  # the config names what is missing


def test_job_config_translates_the_new_request_fields():
    plain = job_config(pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="gsm8k-train@1", out="x")))
    assert plain.variants == 0 and plain.contamination_guard == GUARD and plain.model == "gold-annotations-v2"
    chosen = job_config(pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="gsm8k-train@1", out="x", variants=10, model="gold-annotations-v1",
                                      contamination_guard=["svamp", "my-heldout"])))
    assert chosen.variants == 10 and chosen.model == "gold-annotations-v1"
    assert chosen.contamination_guard == ("svamp", "my-heldout")
    off = job_config(pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="gsm8k-train@1", out="x", no_contamination_guard=True)))
    assert off.contamination_guard == ()
    with pytest.raises(ValidationError, match="contamination_guard: give the datasets or no_contamination_guard, not both"):
        job_config(pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="p@1", out="x", contamination_guard=["svamp"], no_contamination_guard=True)))
    with pytest.raises(ValidationError) as refused:
        job_config(pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="p@1", out="x", variants=65)))
    assert "variants: Input should be less than or equal to 64" in field_errors(refused.value.errors(), whole="job")
    with pytest.raises(ValidationError) as refused:
        job_config(pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="p@1", out="x", model="gold-annotations")))
    assert "model: the annotations teacher has versions" in field_errors(refused.value.errors(), whole="job")


def _request(*args: str) -> pb.TeacherJob:
    """What `distillery teacher generate ARGS` sends (parsed by click, no service)."""
    params = generate_command.make_context("generate", ["--problems", "gsm8k-train@1", "--out", "x", *args]).params
    del params["endpoint_key_file"], params["teacher"], params["token"], params["as_json"]
    return teacher_job(**params, endpoint_key="")


def test_the_cli_flags_reach_the_request_and_the_config():
    default = _request()
    assert default.config.variants == 0 and not default.config.no_contamination_guard
    assert job_config(default).contamination_guard == GUARD  # the default list
    chosen = _request("--variants", "10", "--guard", "svamp", "--guard", "my-heldout", "--seed", "7",
                      "--model", "gold-annotations-v1")
    config = job_config(chosen)
    assert config.variants == 10 and config.contamination_guard == ("svamp", "my-heldout")
    assert config.sampling.seed == 7 and config.model == "gold-annotations-v1"
    assert job_config(_request("--no-guard")).contamination_guard == ()
    with pytest.raises(click.UsageError, match="--guard and --no-guard exclude each other"):
        _request("--guard", "svamp", "--no-guard")
    with pytest.raises(click.BadParameter):
        _request("--variants", "65")


def test_progress_carries_variants_and_contaminated_problems():
    progress = JobProgress(problems_total=10, problems_done=10, variants_kept=37, variants_dropped=3, contaminated=2)
    message = progress_to_pb(progress)
    assert (message.variants_kept, message.variants_dropped, message.contaminated) == (37, 3, 2)
    assert progress_to_pb(JobProgress()).variants_kept == 0
    assert progress_extras(message, variants=10) == (", 37 variants kept (3 dropped), "
                                                     "2 refused by the contamination guard")
    assert progress_extras(pb.TeacherJobProgress(variants_kept=5), variants=0) == ""


def test_a_missing_guard_dataset_says_how_to_fix_it():
    benchmark = missing_guard_dataset("svamp")
    assert benchmark.startswith("contamination_guard: no `problems` dataset 'svamp' in your team")
    assert "distillery registry import-benchmarks --only svamp" in benchmark
    assert "contamination_guard to [] (teacher generate --no-guard)" in benchmark
    own = missing_guard_dataset("my-heldout")
    assert "'my-heldout'" in own and "registry push --kind problems" in own and "import-benchmarks" not in own
