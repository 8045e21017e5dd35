"""Who may call a served student (serving/access.py), decided by a real registry."""

from __future__ import annotations

import socket

import pytest

from distillery.registry.client import header
from distillery.serving.access import ADMIN, Decision, ModelAccess, RegistryUnavailable
from tests.registry.conftest import ADMIN_TOKEN


@pytest.fixture(scope="module")
def model_ref(alpha, tmp_path_factory) -> str:
    checkpoint = tmp_path_factory.mktemp("access-model")
    (checkpoint / "config.json").write_text("{}")
    return alpha.push_files(header("access-model", "model", stage="train"), checkpoint).ref


def test_the_owning_team_and_the_admin_may_call_an_unshared_model(address, model_ref, team_tokens):
    access = ModelAccess(address, model_ref)
    try:
        allowed = access.check(team_tokens["alpha"])
        assert allowed.decision is Decision.ALLOWED and allowed.team == "alpha"
        assert access.check(ADMIN_TOKEN).team == ADMIN
        assert access.check(team_tokens["beta"]).decision is Decision.FORBIDDEN  # not beta's to see
        for token in ("dst_made-up", "", None):
            assert access.check(token).decision is Decision.UNAUTHENTICATED
    finally:
        access.close()


def test_an_alias_is_open_to_every_known_team(address, team_tokens):
    access = ModelAccess(address, None)
    try:
        assert access.check(team_tokens["beta"]).team == "beta"
        assert access.check("dst_made-up").decision is Decision.UNAUTHENTICATED
    finally:
        access.close()


def test_a_registry_that_cannot_be_asked_is_unavailable_not_a_denial(model_ref, team_tokens):
    with socket.socket() as probe:  # a free port, nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    access = ModelAccess(f"127.0.0.1:{port}", model_ref)
    try:
        with pytest.raises(RegistryUnavailable, match="UNAVAILABLE"):
            access.check(team_tokens["alpha"])
    finally:
        access.close()
