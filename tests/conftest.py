"""Shared fixtures: real sandboxes, a real verifier, a real gRPC server on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distillery.sandbox import ExecutionLimits, Sandbox, SandboxConfig
from distillery.verifier.config import VerifierConfig
from distillery.verifier.verifier import Verifier

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benchmark data beside the checkout (``../shared/data``, or $DISTILLERY_SHARED_DATA)."""
    path = Path(os.environ.get("DISTILLERY_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"shared data not found at {path}; set DISTILLERY_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def sandbox():
    """A policy-enforcing sandbox with short limits, shared by the tests that only run programs."""
    with Sandbox(SandboxConfig(workers=2, limits=ExecutionLimits(timeout_s=2.0, memory_mb=128))) as box:
        yield box


@pytest.fixture(scope="session")
def verifier():
    with Verifier(VerifierConfig(workers=2)) as v:
        yield v
