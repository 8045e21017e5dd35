"""A job spec's teacher pool checked against the pools the teacher offers the caller's team (pure),
and what a submit answers when the teacher cannot be asked."""

from __future__ import annotations

import grpc
import pytest

from distillery.core.service_errors import ServiceRefused
from distillery.jobs.errors import InvalidJob, ReferenceNotFound
from distillery.jobs.references import check_teacher_pool, pool_refusal
from distillery.jobs.spec import JobSpec
from distillery.teacher.client import TeacherClient
from distillery.v1 import teacher_pb2 as pb

OFFERED = pb.ListPoolsResponse(pools=[pb.TeacherPoolInfo(name="house", models=["small", "large"]),
                                      pb.TeacherPoolInfo(name="alpha-only", models=["m"], restricted=True)])


def test_a_pool_the_team_is_offered_passes_with_any_model_it_serves():
    assert pool_refusal("house", None, "alpha", OFFERED) is None  # the pool's first model
    assert pool_refusal("house", "large", "alpha", OFFERED) is None
    assert pool_refusal("alpha-only", "m", "alpha", OFFERED) is None


def test_a_pool_not_offered_is_not_found_and_lists_the_teams_pools():
    refusal = pool_refusal("nope", None, "alpha", OFFERED)
    assert isinstance(refusal, ReferenceNotFound) and refusal.code == grpc.StatusCode.NOT_FOUND
    assert str(refusal) == "teacher.pool: no teacher pool 'nope' for team alpha; available: house, alpha-only"
    none = pool_refusal("house", None, "beta", pb.ListPoolsResponse())
    assert str(none) == ("teacher.pool: no teacher pool 'house' for team beta; "
                         "available: none: the operator configured no pools for this team")


def test_a_model_the_pool_does_not_serve_is_invalid_naming_teacher_model():
    refusal = pool_refusal("house", "gpt-9", "alpha", OFFERED)
    assert isinstance(refusal, InvalidJob) and refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert str(refusal) == "teacher.model: pool 'house' serves small, large, not 'gpt-9'"


def test_a_teacher_that_does_not_answer_refuses_the_submit_as_unavailable():
    """Nothing listens on port 9: the submit is refused UNAVAILABLE (exit 7, try again), not accepted."""
    spec = JobSpec.model_validate({"name": "j", "problems": {"dataset": "gsm8k-train"},
                                   "teacher": {"backend": "openai", "pool": "house"}})
    with TeacherClient("127.0.0.1:9", "a-token") as teacher, pytest.raises(ServiceRefused) as caught:
        check_teacher_pool(teacher, "alpha", spec)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE and str(caught.value).startswith("teacher.pool: ")
