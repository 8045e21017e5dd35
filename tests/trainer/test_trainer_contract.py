"""``TrainerConfig`` is the training contract, defined once: its proto is generated from it and kept
current, and a field added to it alone travels from a job spec to the Ray workers."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

from distillery.core.protogen import MODEL_PROTOS, PROTOS, model_proto
from distillery.core.pydantic_proto import from_message, render_proto, to_message
from distillery.trainer.trainer_config import TrainerConfig
from distillery.v1 import trainer_config_pb2 as pb

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_proto_is_generated_from_the_model():
    for relative in MODEL_PROTOS:
        committed = (PROTOS / relative).read_text()
        assert model_proto(relative, committed) == committed, f"{relative}: run `make protos`"


def test_a_config_survives_the_wire_with_falsy_values_and_unset_defaults():
    config = TrainerConfig(dataset="t/d@1", out="m", thought_types="potd", max_steps=5, bf16=False, seed=0,
                           weight_decay=0.0, lora={"r": 4, "target_modules": ["q_proj", "v_proj"]})
    wire = pb.TrainerConfig.FromString(to_message(config, pb.TrainerConfig).SerializeToString())
    assert from_message(wire, TrainerConfig) == config
    assert wire.HasField("bf16") and not wire.bf16  # False travels as a value, not as "unset"
    assert not wire.HasField("epochs") and not wire.HasField("batch_tokens")  # None: the model's default
    # A client that sets only what it cares about gets the model's defaults for the rest.
    sparse = from_message(pb.TrainerConfig(dataset="t/d@1", out="m"), TrainerConfig)
    assert sparse == TrainerConfig(dataset="t/d@1", out="m") and sparse.epochs == 3.0


def test_field_numbers_are_kept_when_fields_come_and_go():
    committed = (PROTOS / "distillery/v1/trainer_config.proto").read_text()
    text = render_proto((TrainerConfig,), package="p", source="s", committed=committed.replace(
        "optional string base = 1;", "optional string base = 1;\n  optional int32 gone = 40;"))
    assert "optional string base = 1;" in text and "reserved 40;" in text
    assert text.count("optional string out = ") == 1 and "out = 21;" in committed and "out = 21;" in text


def test_a_field_added_only_to_the_trainer_config_reaches_the_workers_from_a_job_spec(tmp_path):
    """Copy the code, add one field to ``StudentTraining`` (the part of ``TrainerConfig`` a spec
    sets), regenerate the protos, and follow a spec setting it through every hop the platform
    makes: spec -> the controller's typed stage request -> the wire -> the trainer service's
    config -> Ray Train's loop config -> the worker's config."""
    copy = tmp_path / "repo"
    for part in ("services", "protos"):
        shutil.copytree(REPO / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    source = copy / "services/distillery/trainer/trainer_config.py"
    text = source.read_text()
    anchor = '    compile: bool = Field(False, description="torch.compile the model (pays off on a GPU for long runs).")\n'
    assert anchor in text
    source.write_text(text.replace(anchor, anchor + '    probe: int = Field(0, ge=0, le=100, '
                                                    'description="A field only this test adds.")\n'))
    env = {**os.environ, "PYTHONPATH": str(copy / "services")}  # the copy, ahead of the installed tree
    subprocess.run([sys.executable, "-m", "distillery.core.protogen"], cwd=copy, env=env, check=True,
                   capture_output=True, timeout=120)
    # Nothing but the model and what `make protos` generates from it changed.
    changed = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                     and not filecmp.cmp(p, REPO / p.relative_to(copy), shallow=False)
                     if (REPO / p.relative_to(copy)).exists())
    assert changed == ["protos/distillery/v1/trainer_config.proto",
                       "services/distillery/trainer/trainer_config.py",
                       "services/distillery/v1/trainer_config_pb2.py",
                       "services/distillery/v1/trainer_config_pb2.pyi"]
    hops = """
import json
from distillery.core.pydantic_proto import from_message
from distillery.jobs.plan import plan_stage
from distillery.jobs.spec import parse_spec
from distillery.trainer.loop import worker_config
from distillery.trainer.run import loop_config
from distillery.trainer.trainer_config import TrainerConfig
from distillery.v1 import jobs_pb2

spec = parse_spec("name: x\\nstudent: {probe: 7, max_steps: 2}")
request = plan_stage(spec, "train", "t/gsm8k-train@1", {"teacher": "t/x-thoughts@1"}).request
wire = jobs_pb2.StageRequest.FromString(request.SerializeToString())        # controller -> stage driver
service_side = from_message(wire.train.config, TrainerConfig)              # trainer servicer
worker_side = worker_config(json.loads(json.dumps(loop_config(service_side))))  # Ray Train -> each worker
print(json.dumps({"spec": spec.student.probe, "wire": wire.train.config.probe,
                  "worker": worker_side.probe, "steps": worker_side.max_steps}))
"""
    done = subprocess.run([sys.executable, "-c", hops], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == '{"spec": 7, "wire": 7, "worker": 7, "steps": 2}'
