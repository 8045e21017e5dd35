"""Validate custom resources against the CRDs in ../shared/k8s/crds (their openAPIV3Schema), strictly.

The API server prunes unknown fields silently; here every object schema that lists its
properties and allows nothing else (no additionalProperties, no
x-kubernetes-preserve-unknown-fields) gets ``additionalProperties: false``, so a misspelt or
misplaced field fails instead of vanishing on apply. Used by the chart's tests and the jobs
controller's RayJob tests.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import jsonschema
import yaml

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crd_dir() -> Path:
    """``$DISTILLERY_SHARED_DATA/../k8s/crds``, else ``../shared/k8s/crds`` beside the checkout."""
    env = os.environ.get("DISTILLERY_SHARED_DATA")
    shared = Path(env).parent if env else Path(__file__).resolve().parents[1].parent / "shared"
    return shared / "k8s" / "crds"


def _strict(schema):
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the strict openAPIV3Schema of every served version of every CRD."""
    schemas = {}
    for path in sorted(crd_dir().glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=_YAML_LOADER)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schemas[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


def validate_custom_resource(manifest: dict) -> None:
    """jsonschema.ValidationError when ``manifest`` breaks its CRD; KeyError for an unknown kind."""
    schema = crd_schemas()[(manifest["apiVersion"], manifest["kind"])]
    jsonschema.validate({k: v for k, v in manifest.items() if k != "status"}, schema)
