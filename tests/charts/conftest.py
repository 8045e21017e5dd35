"""Render charts/distillery with the real helm binary, offline, and load the CRDs it is checked against.

helm comes from `charts/install-helm.sh` (the Makefile's setup puts it at .venv/bin/helm); the CRDs
are the offline copies under ../shared/k8s/crds (beside the checkout, or beside
$DISTILLERY_SHARED_DATA).
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import crds

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "distillery"
HERE = Path(__file__).resolve().parent
RELEASE = "distillery"  # contains the chart name: resource names are distillery-<component>
NAMESPACE = "distillery"
KUBE_VERSION = "1.30.0"  # what `helm template` targets and kubernetes-validate checks against

# Each values set the tests render: name -> values files (relative to the chart) and --set-json pairs.
VALUE_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "default": ((), ()),
    "local": (("values-local.yaml",), ()),
    "gpu": (("values-gpu.yaml",), ()),
    "multiteam": (("values-multiteam.yaml",), ()),
    "gpu+multiteam": (("values-gpu.yaml", "values-multiteam.yaml"), ()),
    # Every secret given in values, everything enabled: the no-secrets-outside-Secrets checks.
    "secrets": (("values-gpu.yaml", "values-multiteam.yaml", str(HERE / "values-secrets.yaml")), ()),
    # The teacher pool copying its model from the object store (an init container), API key from a Secret.
    "teacher-pool-s3": ((), ('teacherPool={"enabled": true, "existingSecret": "vllm-api-key",'
                             ' "model": {"source": "s3", "s3": {"prefix": "models/teacher"}}}',)),
    # No MinIO, no RayCluster (the trainer runs Ray in its pod), the kuberay jobs backend.
    "external-s3": ((), ('objectStore.external={"endpoint": "s3.example.internal:443", "accessKey": "AKIDEXAMPLE",'
                         ' "secretKey": "external-s3-secret-5e2b8c"}', "minio.enabled=false", "ray.enabled=false",
                         'jobs.backend="kuberay"')),
}

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def helm_binary() -> str:
    candidate = Path(sys.executable).parent / "helm"
    found = str(candidate) if candidate.exists() else shutil.which("helm")
    if not found:
        pytest.fail("helm not found: run charts/install-helm.sh (make setup does)")
    return found


def helm(*args: str) -> subprocess.CompletedProcess:
    """Run helm with its caches and config in a throwaway place (no repositories are used)."""
    env = dict(os.environ)
    scratch = Path(os.environ.get("PYTEST_HELM_HOME", "/tmp/distillery-chart-tests-helm"))
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[name] = str(scratch / name.lower())
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=env, timeout=120)


def values_args(files: tuple[str, ...] = (), set_json: tuple[str, ...] = ()) -> list[str]:
    args = []
    for name in files:
        args += ["-f", str(CHART / name) if not os.path.isabs(name) else name]
    for pair in set_json:
        args += ["--set-json", pair]
    return args


def template(files: tuple[str, ...] = (), set_json: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
                *values_args(files, set_json))


@functools.lru_cache(maxsize=None)
def _render_cached(files: tuple[str, ...], set_json: tuple[str, ...]) -> tuple[dict, ...]:
    result = template(files, set_json)
    if result.returncode != 0:
        pytest.fail(f"helm template {files} {set_json} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.load_all(result.stdout, Loader=_YAML_LOADER) if doc)


def render(files: tuple[str, ...] = (), set_json: tuple[str, ...] = ()) -> list[dict]:
    """The rendered manifests (a fresh copy: tests may modify what they get)."""
    return copy.deepcopy(list(_render_cached(tuple(files), tuple(set_json))))


@pytest.fixture(scope="session", params=sorted(VALUE_SETS))
def rendered(request) -> tuple[str, list[dict]]:
    files, set_json = VALUE_SETS[request.param]
    return request.param, render(files, set_json)


def rendered_set(name: str) -> list[dict]:
    return render(*VALUE_SETS[name])


@pytest.fixture(scope="session")
def crd_dir() -> Path:
    path = crds.crd_dir()
    if not path.is_dir():
        pytest.fail(f"CRDs not found at {path}; set DISTILLERY_SHARED_DATA (its parent holds k8s/crds)")
    return path


@pytest.fixture(scope="session")
def crd_schemas(crd_dir) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the strict openAPIV3Schema of every served version of every CRD."""
    return crds.crd_schemas()
