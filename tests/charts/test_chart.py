"""charts/distillery, rendered offline with the real helm and checked the way a cluster would check it.

- `helm lint --strict` and `helm template` for the defaults and each values file;
- every built-in object against Kubernetes' own schemas (kubernetes-validate, strict, 1.30), every
  custom resource -- RayCluster, RayService, the RayJob templates inside their ConfigMap, Kueue's
  ResourceFlavor/ClusterQueue/LocalQueue, ServiceMonitor -- against its CRD's openAPIV3Schema,
  with unknown fields rejected;
- policies: resources, probes and a locked-down security context on every container; the
  verifier's deny-all-egress NetworkPolicy; secrets only in Secrets; least-privilege RBAC; every gRPC
  port equal to distillery.core.ports.PORTS; service commands that the real CLI accepts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import click
import jsonschema
import kubernetes_validate
import pytest
import yaml

from distillery.core.ports import HEALTH_PORT, METRICS_PORT, PORTS
from distillery.serving import proxy
from distillery.serving.config import ServeConfig

from .conftest import CHART, KUBE_VERSION, NAMESPACE, REPO, VALUE_SETS, helm, render, rendered_set, template

GRPC_COMPONENTS = tuple(PORTS)  # verifier, registry, teacher, trainer, jobs
CUSTOM_KINDS = {"RayCluster", "RayService", "RayJob", "ResourceFlavor", "ClusterQueue", "LocalQueue", "ServiceMonitor"}


# ---------------------------------------------------------------- helpers

def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict], kind: str, name: str, namespace: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name
             and (namespace is None or d["metadata"].get("namespace", NAMESPACE) == namespace)]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def rayjob_templates(docs: list[dict]) -> list[tuple[str, dict]]:
    """The RayJob templates parsed out of the jobs controller's ConfigMap: (team, RayJob)."""
    templates = []
    for cm in by_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"].endswith("-rayjob-templates"):
            for key, text in cm["data"].items():
                if key != "teams.yaml":
                    templates.append((key.removesuffix(".yaml"), yaml.safe_load(text)))
    return templates


def all_objects(docs: list[dict]) -> list[dict]:
    """The rendered documents plus the RayJob templates inside ConfigMaps."""
    return docs + [job for _, job in rayjob_templates(docs)]


def pod_specs(doc: dict):
    """(where, pod spec, long-running with probes of its own) for every pod an object makes."""
    kind, name = doc["kind"], doc["metadata"].get("name") or doc["metadata"].get("generateName")
    spec = doc.get("spec", {})
    if kind in ("Deployment", "StatefulSet"):
        yield f"{kind}/{name}", spec["template"]["spec"], True
    elif kind == "Job":
        yield f"{kind}/{name}", spec["template"]["spec"], False
    elif kind in ("RayCluster", "RayService", "RayJob"):
        cluster = {"RayCluster": spec, "RayService": spec.get("rayClusterConfig"),
                   "RayJob": spec.get("rayClusterSpec")}[kind]
        # KubeRay adds the Ray containers' probes itself.
        yield f"{kind}/{name}/head", cluster["headGroupSpec"]["template"]["spec"], False
        for group in cluster.get("workerGroupSpecs", []):
            yield f"{kind}/{name}/{group['groupName']}", group["template"]["spec"], False
        if kind == "RayJob" and "submitterPodTemplate" in spec:
            yield f"{kind}/{name}/submitter", spec["submitterPodTemplate"]["spec"], False


def containers(pod: dict):
    for container in pod.get("initContainers", []):
        yield container, False
    for container in pod["containers"]:
        yield container, True


def deployment(docs: list[dict], component: str) -> dict:
    return one(docs, "Deployment", f"distillery-{component}")


def main_container(deploy: dict) -> dict:
    return deploy["spec"]["template"]["spec"]["containers"][0]


def secret_values(docs: list[dict]) -> dict[str, str]:
    """Every secret value of every Secret (decoded) -> where it is. S3 access keys are identifiers,
    not secrets (MinIO's default is the word "distillery"), so they are left out."""
    values = {}
    for secret in by_kind(docs, "Secret"):
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        for key, value in data.items():
            if key != "access-key":
                values[value] = f"{secret['metadata']['name']}/{key}"
    return values


# ---------------------------------------------------------------- helm itself

@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint_strict(name):
    files, set_json = VALUE_SETS[name]
    args = []
    for file in files:
        args += ["-f", file if file.startswith("/") else str(CHART / file)]
    for pair in set_json:
        args += ["--set-json", pair]
    result = helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, *args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_values_file_is_tested():
    files = {p.name for p in CHART.glob("values*.yaml")}
    tested = {f for files_, _ in VALUE_SETS.values() for f in files_ if "/" not in f} | {"values.yaml"}
    assert files == tested | {"values.yaml"}, f"untested values files: {files - tested}"
    assert {"values-local.yaml", "values-gpu.yaml", "values-multiteam.yaml"} <= files


def test_the_schema_rejects_a_misspelt_value():
    result = template(set_json=("verifer={\"replicas\": 3}",))
    assert result.returncode != 0
    assert "verifer" in result.stderr


@pytest.mark.parametrize("set_json, message", [
    ("teams=[]", "teams"),  # the schema's minItems
    ('teams=[{"name": "a", "token": "t1", "existingSecret": "s"}]', "set token or existingSecret, not both"),
    ('teams=[{"name": "a"}, {"name": "a"}]', 'team "a" is listed twice'),
    ('students=[{"name": "s", "team": "nobody", "model": "smollm2-135m-instruct"}]', '"nobody" is not in teams'),
    ("minio.enabled=false", "objectStore.external.endpoint"),
    ('teacherPool={"enabled": true}', "teacherPool.model.pvc"),
    ('teacher.pools=[{"name": "h", "baseUrl": "https://api.example.com/v1", "models": ["m"]}]',
     "teacher.pools[h].egress"),
    ('teacher.pools=[{"name": "h", "baseUrl": "http://h/v1", "models": ["m"], "apiKey": "k", "existingSecret": "s",'
     ' "egress": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}]', "teacher.pools[h]: give apiKey or existingSecret"),
    ('teacher={"networkPolicy": {"enabled": false}, "pools": [{"name": "h", "baseUrl": "http://h/v1", "models": ["m"]},'
     ' {"name": "h", "baseUrl": "http://g/v1", "models": ["m"]}]}', 'the pool name "h" is used twice'),
    ('jobs={"backend": "ray"}', None),  # the default: fine
])
def test_contradictory_values_fail_with_a_message_naming_the_key(set_json, message):
    result = template(set_json=(set_json,))
    if message is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode != 0, f"{set_json} rendered"
    assert message in result.stderr, result.stderr


def test_ray_disabled_with_the_ray_jobs_backend_is_refused():
    result = template(set_json=("ray.enabled=false",))
    assert result.returncode != 0 and "jobs.backend=ray needs a Ray cluster" in result.stderr


# ---------------------------------------------------------------- schemas

def test_built_in_objects_match_the_kubernetes_schemas(rendered):
    name, docs = rendered
    checked = 0
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"[{name}] {doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"[{name}] {doc['apiVersion']} {doc['kind']} is neither built in (Kubernetes "
                        f"{KUBE_VERSION}) nor one of the CRDs the chart is checked against")
        checked += 1
    assert checked >= 20


def test_custom_resources_match_their_crds(rendered, crd_schemas):
    name, docs = rendered
    kinds = set()
    for doc in all_objects(docs):
        if doc["kind"] not in CUSTOM_KINDS:
            continue
        schema = crd_schemas.get((doc["apiVersion"], doc["kind"]))
        assert schema is not None, f"no CRD for {doc['apiVersion']} {doc['kind']}"
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            where = doc["metadata"].get("name") or doc["metadata"].get("generateName")
            pytest.fail(f"[{name}] {doc['kind']}/{where}: " + "; ".join(
                f"{'.'.join(str(p) for p in e.path)}: {e.message[:300]}" for e in errors[:5]))
        kinds.add(doc["kind"])
    expected = {"default": {"RayCluster"}, "local": {"RayCluster", "RayService"},
                "gpu": {"RayCluster", "RayService", "ServiceMonitor"},
                "multiteam": {"RayCluster", "RayService", "RayJob", "ResourceFlavor", "ClusterQueue", "LocalQueue"},
                "external-s3": {"RayJob"}}
    assert expected.get(name, set()) <= kinds, f"[{name}] rendered custom kinds: {kinds}"


def test_the_strict_crd_check_catches_a_misplaced_field(crd_schemas):
    """The CRD check is not vacuous: a field the API server would silently prune fails it."""
    cluster = one(rendered_set("default"), "RayCluster", "distillery-ray")
    validator = jsonschema.Draft7Validator(crd_schemas[("ray.io/v1", "RayCluster")])
    assert not list(validator.iter_errors(cluster))
    cluster["spec"]["headGroupSpec"]["rayStartParam"] = {"num-cpus": "0"}  # a typo
    assert list(validator.iter_errors(cluster))
    queue = one(rendered_set("multiteam"), "ClusterQueue", "distillery-research")
    queue["spec"]["cohort"] = queue["spec"].pop("cohortName")  # v1beta1's name, gone in v1beta2
    assert list(jsonschema.Draft7Validator(crd_schemas[("kueue.x-k8s.io/v1beta2", "ClusterQueue")]).iter_errors(queue))


# ---------------------------------------------------------------- container policy

def test_every_container_has_resources_probes_and_a_locked_down_security_context(rendered):
    name, docs = rendered
    seen = 0
    for doc in all_objects(docs):
        for where, pod, long_running in pod_specs(doc):
            pod_sc = pod.get("securityContext", {})
            assert pod_sc.get("runAsNonRoot") is True, f"[{name}] {where}: pod runAsNonRoot"
            assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"[{name}] {where}: seccomp"
            assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), where
            for container, is_main in containers(pod):
                label = f"[{name}] {where}/{container['name']}"
                resources = container.get("resources", {})
                for section in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(resources.get(section, {})), f"{label}: resources.{section}"
                sc = container.get("securityContext", {})
                assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, f"{label}: runAsNonRoot"
                assert sc.get("readOnlyRootFilesystem") is True, f"{label}: readOnlyRootFilesystem"
                assert sc.get("allowPrivilegeEscalation") is False, f"{label}: allowPrivilegeEscalation"
                assert "ALL" in sc.get("capabilities", {}).get("drop", []), f"{label}: capabilities.drop ALL"
                assert not sc.get("capabilities", {}).get("add"), f"{label}: capabilities.add"
                assert not sc.get("privileged"), f"{label}: privileged"
                assert sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type") == "RuntimeDefault"
                if "runAsUser" in sc or "runAsUser" in pod_sc:
                    assert sc.get("runAsUser", pod_sc.get("runAsUser")) != 0, f"{label}: runs as root"
                if long_running and is_main:
                    assert "readinessProbe" in container and "livenessProbe" in container, f"{label}: probes"
                # A read-only root needs somewhere to write: /tmp is always an emptyDir.
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                assert "/tmp" in mounts, f"{label}: no writable /tmp"
                volume = next(v for v in pod["volumes"] if v["name"] == mounts["/tmp"])
                assert "emptyDir" in volume, f"{label}: /tmp is not an emptyDir"
                seen += 1
        if doc["kind"] in ("RayCluster", "RayService"):
            spec = doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterConfig"]
            if spec.get("enableInTreeAutoscaling"):
                options = spec["autoscalerOptions"]  # KubeRay's autoscaler sidecar, same rules
                assert {"cpu", "memory"} <= set(options["resources"]["limits"])
                assert options["securityContext"]["readOnlyRootFilesystem"] is True
                assert options["securityContext"]["runAsNonRoot"] is True
    assert seen >= 8
    if name == "teacher-pool-s3":  # the init container was among them
        pool = one(docs, "Deployment", "distillery-teacher-pool")["spec"]["template"]["spec"]
        assert [c["name"] for c in pool["initContainers"]] == ["fetch-model"]


def test_only_the_jobs_controller_with_the_kuberay_backend_gets_an_api_token(rendered):
    name, docs = rendered
    kuberay = any(main_container(d)["args"][:2] == ["jobs", "serve"] and "--backend=kuberay" in main_container(d)["args"]
                  for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "distillery-jobs")
    for account in by_kind(docs, "ServiceAccount"):
        expected = kuberay and account["metadata"]["name"] == "distillery-jobs"
        assert account.get("automountServiceAccountToken") is expected, f"[{name}] {account['metadata']['name']}"
    for doc in all_objects(docs):
        for where, pod, _ in pod_specs(doc):
            is_jobs = where == "Deployment/distillery-jobs"
            if is_jobs and kuberay:
                assert pod["automountServiceAccountToken"] is True
            elif doc["kind"] in ("RayCluster", "RayService") and where.endswith("/head") and \
                    (doc["spec"].get("enableInTreeAutoscaling") or doc["kind"] == "RayService"):
                # The autoscaler sidecar patches its RayCluster: KubeRay gives that head its own
                # ServiceAccount and Role, so the chart leaves both alone.
                assert "serviceAccountName" not in pod
            else:
                assert pod.get("automountServiceAccountToken") is False, f"[{name}] {where}"


def test_the_image_user_matches_the_pod_security_context():
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2, "the Dockerfile should be multi-stage"
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users, "no USER in the Dockerfile"
    final_user = users[-1].split(":")[0]
    assert final_user.isdigit() and final_user != "0", "the image's last USER must be a numeric non-root UID"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert int(final_user) == values["podSecurityContext"]["runAsUser"]
    # The final stage only copies the built environment: no compilers, no source tree.
    final_stage = dockerfile.split("FROM ")[-1]
    assert "COPY --from=build /opt/venv /opt/venv" in final_stage and "COPY services" not in final_stage
    assert "wget" in final_stage  # KubeRay's default Ray probes call it
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


# ---------------------------------------------------------------- the verifier's isolation

def test_the_verifier_has_no_egress_at_all(rendered):
    name, docs = rendered
    pod_labels = deployment(docs, "verifier")["spec"]["template"]["metadata"]["labels"]
    policies = [p for p in by_kind(docs, "NetworkPolicy")
                if all(pod_labels.get(k) == v for k, v in p["spec"]["podSelector"].get("matchLabels", {}).items())
                and p["spec"]["podSelector"].get("matchLabels")]
    assert policies, f"[{name}] no NetworkPolicy selects the verifier's pods"
    deny = [p for p in policies if "Egress" in p["spec"].get("policyTypes", []) and not p["spec"].get("egress")]
    assert deny, f"[{name}] no policy denies the verifier's egress"
    # No other policy re-opens egress for these pods (policies are additive).
    assert not [p for p in policies if p["spec"].get("egress")]
    # Nothing else the policy selects: it must not catch other components by accident.
    for other in ("registry", "teacher", "trainer"):
        labels = deployment(docs, other)["spec"]["template"]["metadata"]["labels"]
        assert not all(labels.get(k) == v for k, v in deny[0]["spec"]["podSelector"]["matchLabels"].items())


def test_the_verifier_holds_only_the_teams_token_hashes_and_never_asks_the_registry(rendered):
    name, docs = rendered
    deploy = deployment(docs, "verifier")
    container = main_container(deploy)
    pod = deploy["spec"]["template"]["spec"]
    assert not any(a.startswith("--auth-registry") for a in container["args"]), "the verifier has no egress"
    assert pod["automountServiceAccountToken"] is False
    # No token reaches the verifier: not in env, not through envFrom, not as a mounted team Secret.
    team_secrets = {s["metadata"]["name"] for s in by_kind(docs, "Secret") if "distillery.io/team" in
                    s["metadata"].get("labels", {})} | {t["existingSecret"] for t in _teams_of(name)
                                                         if t.get("existingSecret")}
    env_names = {e["name"] for e in container.get("env", [])}
    assert not env_names & {"DISTILLERY_TOKENS", "DISTILLERY_TOKEN"}
    assert not [n for n in env_names if n.startswith("DISTILLERY_TEAM_TOKEN")]
    refs = json.dumps([container.get("env", []), container.get("envFrom", []), pod.get("volumes", [])])
    assert not [s for s in team_secrets if f'"{s}"' in refs], f"[{name}] the verifier reads a team's token Secret"
    # Instead: one SHA-256 per team, from a Secret of hashes mounted as --token-hash-file.
    assert "--token-hash-file=/etc/distillery/verifier/token-hashes" in container["args"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/distillery/verifier")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    hashes = base64.b64decode(one(docs, "Secret", volume["secret"]["secretName"])["data"]["token-hashes"]).decode()
    tokens = {s["metadata"]["labels"]["distillery.io/team"]: base64.b64decode(s["data"]["token"]).decode()
              for s in by_kind(docs, "Secret") if "distillery.io/team" in s["metadata"].get("labels", {})}
    expected = [team["tokenSha256"] if team.get("existingSecret") else hashlib.sha256(tokens[team["name"]].encode()).hexdigest()
                for team in _teams_of(name)]
    assert hashes.split() == expected, f"[{name}] the verifier's hashes are not the teams' tokens' hashes"
    for token in tokens.values():  # no plaintext token anywhere in the verifier's objects
        assert token not in json.dumps(deploy) and token not in hashes


def test_an_existing_secret_team_must_give_its_tokens_hash():
    result = template(set_json=('teams=[{"name": "evals", "existingSecret": "evals-token"}]',))
    assert result.returncode != 0
    assert "teams[0] (evals): existingSecret needs tokenSha256" in result.stderr
    digest = hashlib.sha256(b"evals-token-value").hexdigest()
    docs = render(set_json=(f'teams=[{{"name": "evals", "existingSecret": "evals-token", "tokenSha256": "{digest}"}}]',))
    secret = one(docs, "Secret", "distillery-verifier-token-hashes")
    assert base64.b64decode(secret["data"]["token-hashes"]).decode().split() == [digest]


def test_the_verifier_requires_the_layers_of_a_non_root_pod_and_overrides_are_explicit():
    args = main_container(deployment(rendered_set("default"), "verifier"))["args"]
    # The pods run as a non-root user: privilege_drop (root -> nobody) does not apply, and
    # RuntimeDefault seccomp refuses the user namespace a network namespace would need.
    assert "--require-isolation=seccomp,landlock" in args
    assert not [a for a in args if a.startswith("--allow-missing-isolation")]
    set_json = ('verifier.allowMissingIsolation="landlock"',
                'verifier.limits={"maxThoughtsPerCall": 512, "maxThoughtsPerStream": 2000000, "maxThoughtChars": 8192,'
                ' "maxInflightPerTeam": 1024, "maxCallsPerTeam": 8}')
    args = main_container(deployment(render(set_json=set_json), "verifier"))["args"]
    assert "--allow-missing-isolation=landlock" in args and "--max-thoughts-per-stream=2000000" in args
    params = _cli_parse(args).params
    assert params["allow_missing_isolation"] == "landlock" and params["require_isolation"] == "seccomp,landlock"
    assert (params["max_thoughts_per_call"], params["max_thoughts_per_stream"], params["max_thought_chars"],
            params["max_inflight_per_team"], params["max_calls_per_team"]) == (512, 2000000, 8192, 1024, 8)
    off = render(set_json=('verifier.requireIsolation=""',))
    assert "--require-isolation=none" in main_container(deployment(off, "verifier"))["args"]


def _teams_of(value_set: str) -> list[dict]:
    teams = yaml.safe_load((CHART / "values.yaml").read_text())["teams"]
    for file in VALUE_SETS[value_set][0]:
        path = Path(file) if file.startswith("/") else CHART / file
        teams = (yaml.safe_load(path.read_text()) or {}).get("teams", teams)
    return teams


def test_the_verifier_can_run_in_a_sandboxed_runtime():
    docs = render(set_json=('verifier.runtimeClassName="gvisor"',))
    assert deployment(docs, "verifier")["spec"]["template"]["spec"]["runtimeClassName"] == "gvisor"
    assert "runtimeClassName" not in deployment(rendered_set("default"), "verifier")["spec"]["template"]["spec"]


# ---------------------------------------------------------------- secrets

def test_secret_values_appear_only_in_secrets(rendered):
    name, docs = rendered
    values = {v for v in secret_values(docs) if len(v) >= 8}
    assert values, f"[{name}] no secrets rendered"
    for doc in all_objects(docs):
        if doc["kind"] == "Secret":
            continue
        text = json.dumps(doc)
        leaked = [v for v in values if v in text]
        assert not leaked, f"[{name}] {doc['kind']}/{doc['metadata'].get('name')} contains a Secret's value"


@pytest.mark.parametrize("value_set", ["secrets", "external-s3"])
def test_secrets_given_in_values_end_up_in_secrets_and_nowhere_else(value_set):
    docs = rendered_set(value_set)
    stored = secret_values(docs)
    if value_set == "secrets":
        given = yaml.safe_load((Path(__file__).parent / "values-secrets.yaml").read_text())
        expected = {given["auth"]["adminToken"], given["minio"]["rootPassword"], given["ray"]["auth"]["token"],
                    given["teacherPool"]["apiKey"], *(t["token"] for t in given["teams"]),
                    *(p["apiKey"] for p in given["teacher"]["pools"] if "apiKey" in p)}
        expected.add(hashlib.sha256(given["auth"]["adminToken"].encode()).hexdigest())
    else:
        expected = {"external-s3-secret-5e2b8c"}
    assert expected <= set(stored), f"not stored in a Secret: {expected - set(stored)}"
    for doc in all_objects(docs):
        if doc["kind"] != "Secret":
            text = json.dumps(doc)
            assert not [v for v in expected if v in text], f"{doc['kind']}/{doc['metadata'].get('name')}"


def test_the_registry_gets_only_the_admin_tokens_hash():
    docs = rendered_set("secrets")
    env = {e["name"]: e for e in main_container(deployment(docs, "registry"))["env"]}
    assert "DISTILLERY_ADMIN_TOKEN" not in env
    ref = env["DISTILLERY_ADMIN_TOKEN_SHA256"]["valueFrom"]["secretKeyRef"]
    secret = one(docs, "Secret", ref["name"])
    token = yaml.safe_load((Path(__file__).parent / "values-secrets.yaml").read_text())["auth"]["adminToken"]
    assert base64.b64decode(secret["data"][ref["key"]]).decode() == hashlib.sha256(token.encode()).hexdigest()


def test_a_generated_team_token_is_the_same_in_every_namespace():
    docs = rendered_set("multiteam")
    for team in ("research", "product"):
        copies = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == f"distillery-team-{team}"]
        assert {s["metadata"]["namespace"] for s in copies} == {NAMESPACE, f"distillery-{team}"}
        tokens = {s["data"]["token"] for s in copies}
        assert len(tokens) == 1
        assert base64.b64decode(tokens.pop()).decode().startswith("dst_")
    # evals brings its own Secret: the chart renders none for it.
    assert not [s for s in by_kind(docs, "Secret") if "evals" in s["metadata"]["name"]]


# ---------------------------------------------------------------- ports and commands

ADDRESS = re.compile(r"distillery-(verifier|registry|teacher|trainer|jobs)\.[a-z0-9-]+\.svc\.cluster\.local:(\d+)")


def test_every_grpc_port_is_the_one_in_ports_py(rendered):
    name, docs = rendered
    for component, port in PORTS.items():
        service = one(docs, "Service", f"distillery-{component}")
        assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
            ("grpc", port, "grpc"), ("metrics", METRICS_PORT, "metrics")]
        pod = deployment(docs, component)["spec"]["template"]
        container = main_container(deployment(docs, component))
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"grpc": port, "metrics": METRICS_PORT}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):  # the plaintext health-only port
            assert container[probe]["grpc"]["port"] == HEALTH_PORT, f"[{name}] {component} {probe}"
        assert f"--port={port}" in container["args"] and f"--metrics-port={METRICS_PORT}" in container["args"]
        scrape_port = pod["metadata"].get("annotations", {}).get("prometheus.io/port")
        assert scrape_port == (None if name == "local" else str(METRICS_PORT)), f"[{name}] {component}"
    # Every grpc Service is one of PORTS'.
    grpc_services = {s["metadata"]["name"] for s in by_kind(docs, "Service")
                     if any(p.get("appProtocol") == "grpc" for p in s["spec"]["ports"])}
    assert grpc_services == {f"distillery-{c}" for c in PORTS}
    # Every address of a service, anywhere (flags, env, RayService args, RayJob templates), uses its port.
    text = json.dumps(docs)
    addresses = ADDRESS.findall(text)
    assert addresses, "no service addresses rendered"
    for component, port in addresses:
        assert int(port) == PORTS[component], f"[{name}] {component} addressed on {port}"


def test_the_chart_helper_lists_exactly_ports_py():
    """The chart's one copy of the ports (_helpers.tpl) is PORTS, entry for entry."""
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    block = helpers.split('{{- define "distillery.ports" -}}', 1)[1].split("{{- end }}", 1)[0]
    assert yaml.safe_load(block) == PORTS
    metrics = helpers.split('{{- define "distillery.metricsPort" -}}', 1)[1].split("{{- end }}", 1)[0]
    assert int(metrics) == METRICS_PORT


def _cli_parse(argv: list[str]) -> click.Context:
    """Parse a service command line with the installed CLI, as `distillery` would (without running it)."""
    from distillery.cli.main import cli

    command, ctx, args = cli, click.Context(cli, info_name="distillery"), list(argv)
    while isinstance(command, click.Group):
        name, args = args[0], args[1:]
        sub = command.get_command(ctx, name)
        if sub is None:
            raise LookupError(f"`distillery {' '.join(argv[:argv.index(name) + 1])}` does not exist in this CLI")
        if not isinstance(sub, click.Group):
            return sub.make_context(name, args, parent=ctx)
        command, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("value_set", ["default", "gpu+multiteam", "external-s3"])
@pytest.mark.parametrize("component", GRPC_COMPONENTS)
def test_each_service_command_is_accepted_by_the_cli(value_set, component):
    container = main_container(deployment(rendered_set(value_set), component))
    assert container["command"] == ["distillery"]
    assert container["args"][:2] == [component, "serve"]
    try:
        ctx = _cli_parse(container["args"])
    except LookupError as exc:
        if component == "jobs":
            pytest.skip(f"{exc} yet (the jobs controller is being built)")
        raise
    except click.UsageError as exc:
        pytest.fail(f"distillery {' '.join(container['args'])}: {exc.format_message()}")
    assert ctx.params["host"] == "0.0.0.0" and ctx.params["port"] == PORTS[component]


def test_service_commands_wire_the_platform_together():
    docs = rendered_set("gpu+multiteam")
    args = {c: main_container(deployment(docs, c))["args"] for c in PORTS}
    addr = {c: f"grpcs://distillery-{c}.{NAMESPACE}.svc.cluster.local:{p}" for c, p in PORTS.items()}  # TLS by default
    minio = f"--s3-endpoint=distillery-minio.{NAMESPACE}.svc.cluster.local:9000"
    assert f"--registry={addr['registry']}" in args["teacher"] and f"--verifier={addr['verifier']}" in args["teacher"]
    assert "--work-dir=/work" in args["teacher"]
    assert minio in args["registry"] and "--bucket=distillery" in args["registry"]
    assert minio in args["trainer"] and "--bucket=distillery-checkpoints" in args["trainer"]
    head = f"distillery-ray-head-svc.{NAMESPACE}.svc.cluster.local"
    assert f"--ray-address=ray://{head}:10001" in args["trainer"]
    for flag in (f"--registry={addr['registry']}", f"--teacher={addr['teacher']}", f"--trainer={addr['trainer']}",
                 f"--verifier={addr['verifier']}", "--state-bucket=distillery", "--backend=kuberay", minio,
                 f"--advertise={addr['jobs']}", "--s3-access-key=$(DISTILLERY_S3_ACCESS_KEY)"):
        assert flag in args["jobs"], flag
    jobs_env = {e["name"]: e for e in main_container(deployment(docs, "jobs"))["env"]}
    assert jobs_env["DISTILLERY_RAYJOB_TEMPLATES"]["value"] == "/etc/distillery/rayjob-templates"
    ray_jobs = main_container(deployment(rendered_set("default"), "jobs"))["args"]
    assert "--backend=ray" in ray_jobs and f"--ray-address=http://{head}:8265" in ray_jobs
    # $(DISTILLERY_S3_ACCESS_KEY) in args expands only from the container's own env.
    for component in ("registry", "trainer", "jobs"):
        env = {e["name"]: e for e in main_container(deployment(docs, component))["env"]}
        assert env["DISTILLERY_S3_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "access-key"
        assert env["DISTILLERY_S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "secret-key"
    # The work dir is a writable volume (the root filesystem is read-only).
    teacher = deployment(docs, "teacher")["spec"]["template"]["spec"]
    mount = next(m for m in teacher["containers"][0]["volumeMounts"] if m["mountPath"] == "/work")
    volume = next(v for v in teacher["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"]["claimName"] == "distillery-teacher-work"


def test_without_a_ray_cluster_the_trainer_runs_ray_in_its_pod():
    docs = rendered_set("external-s3")
    assert not by_kind(docs, "RayCluster")
    args = main_container(deployment(docs, "trainer"))["args"]
    assert not any(a.startswith("--ray-address") for a in args) and "--ray-num-cpus=2" in args
    assert "--s3-endpoint=s3.example.internal:443" in args and "--s3-secure" in args
    assert not by_kind(docs, "StatefulSet")


# ---------------------------------------------------------------- RBAC

def test_the_jobs_controller_may_only_manage_rayjobs_in_team_namespaces():
    docs = rendered_set("gpu+multiteam")
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    roles = by_kind(docs, "Role")
    assert {r["metadata"]["namespace"] for r in roles} == {"distillery-research", "distillery-product", "distillery-evals"}
    for role in roles:
        assert role["rules"] == [{"apiGroups": ["ray.io"], "resources": ["rayjobs"],
                                  "verbs": ["create", "get", "list", "watch", "delete"]}]
    bindings = by_kind(docs, "RoleBinding")
    assert len(bindings) == len(roles)
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "distillery-jobs", "namespace": NAMESPACE}]
        assert binding["roleRef"]["kind"] == "Role"
    # The ray backend needs no API access: no RBAC at all.
    assert not by_kind(rendered_set("default"), "Role") and not by_kind(rendered_set("default"), "RoleBinding")


# ---------------------------------------------------------------- KubeRay

def test_the_raycluster_autoscales_gpu_workers_and_exports_metrics():
    docs = rendered_set("gpu")
    spec = one(docs, "RayCluster", "distillery-ray")["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    gpu = groups["gpu"]
    assert gpu["minReplicas"] == 0 < gpu["maxReplicas"]
    container = gpu["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["template"]["spec"]["tolerations"]
    assert "nvidia.com/gpu" not in groups["cpu"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["metrics-export-port"] == "8080"
    assert {"name": "metrics", "containerPort": 8080} in head["template"]["spec"]["containers"][0]["ports"]
    assert {"name": "client", "containerPort": 10001} in head["template"]["spec"]["containers"][0]["ports"]
    # Ray token auth: the head, the workers, the autoscaler and the clients share one Secret.
    secret = spec["autoscalerOptions"]["env"][1]["valueFrom"]["secretKeyRef"]["name"]
    for pod in [head["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]:
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == secret
    for component in ("trainer", "jobs"):
        env = {e["name"]: e for e in main_container(deployment(docs, component))["env"]}
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == secret
    monitors = {m["metadata"]["name"]: m for m in by_kind(docs, "ServiceMonitor")}
    services = ("registry", "verifier", "teacher", "trainer", "jobs")
    assert set(monitors) == {"distillery-ray-metrics", "distillery-minio", "distillery-teacher-pool",
                             *(f"distillery-{s}" for s in services)}
    for service in services:
        assert monitors[f"distillery-{service}"]["spec"]["endpoints"][0]["port"] == "metrics"
    metrics = one(docs, "Service", "distillery-ray-metrics")
    head_labels = head["template"]["metadata"]["labels"]
    assert all(head_labels.get(k) == v for k, v in metrics["spec"]["selector"].items())


def test_students_are_rayservices_built_by_app_builder_with_valid_serveconfig_args():
    for value_set in ("local", "gpu", "gpu+multiteam"):
        docs = rendered_set(value_set)
        services = by_kind(docs, "RayService")
        assert services
        for service in services:
            config = yaml.safe_load(service["spec"]["serveConfigV2"])
            (app,) = config["applications"]
            assert app["import_path"] == "distillery.serving.deploy:app_builder"
            assert app["route_prefix"] == f"/{app['name']}"
            args = app["args"]
            assert "token" not in args  # the token comes from the team's Secret, never the spec
            ServeConfig.model_validate({**args, "token": "from-DISTILLERY_TOKEN"})  # extra="forbid": exact fields
            assert set(args) - {"limits"} == {"name", "model", "team", "backend", "max_new_tokens",
                                              "max_batch_size", "autoscaling", "num_cpus", "num_gpus",
                                              "registry", "verifier"}
            assert set(args["autoscaling"]) == {"min_replicas", "max_replicas", "target_ongoing_requests"}
            # Serve's proxies withhold the route listing (HTTP callback, gRPC servicer) and cap bodies.
            assert config["grpc_options"]["grpc_servicer_functions"] == [proxy.SERVICER]
            cluster = service["spec"]["rayClusterConfig"]
            pods = [cluster["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in cluster["workerGroupSpecs"]]
            for pod in pods:
                env = {e["name"]: e for e in pod["containers"][0]["env"]}
                ref = env["DISTILLERY_TOKEN"]["valueFrom"]["secretKeyRef"]
                assert ref["name"] == f"distillery-team-{args['team']}"
                assert {name: env[name].get("value") for name in proxy.proxy_env()} == proxy.proxy_env()
                assert env["RAY_worker_niceness"]["value"] == "0"  # the engine does not yield to the pod's others
            if args["num_gpus"]:
                worker = cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
                assert worker["resources"]["limits"]["nvidia.com/gpu"] >= args["num_gpus"]


def test_rayjob_templates_queue_each_team_in_its_own_namespace():
    docs = rendered_set("gpu+multiteam")
    cm = one(docs, "ConfigMap", "distillery-jobs-rayjob-templates")
    index = yaml.safe_load(cm["data"]["teams.yaml"])
    templates = dict(rayjob_templates(docs))
    assert set(templates) == {t["team"] for t in index} == {"research", "product", "evals"}
    local_queues = {(q["metadata"]["namespace"], q["metadata"]["name"]) for q in by_kind(docs, "LocalQueue")}
    secrets = {(s["metadata"].get("namespace", NAMESPACE), s["metadata"]["name"]) for s in by_kind(docs, "Secret")}
    for entry in index:
        job = templates[entry["team"]]
        namespace = job["metadata"]["namespace"]
        assert namespace == entry["namespace"] == f"distillery-{entry['team']}"
        assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == entry["localQueue"] == entry["team"]
        assert (namespace, entry["localQueue"]) in local_queues
        assert job["spec"]["suspend"] is True and job["spec"]["shutdownAfterJobFinishes"] is True
        for group in job["spec"]["rayClusterSpec"]["workerGroupSpecs"]:  # Kueue admits fixed sizes only
            assert group["minReplicas"] == group["replicas"] == group["maxReplicas"]
            assert group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert "enableInTreeAutoscaling" not in job["spec"]["rayClusterSpec"]
        head_env = {e["name"]: e for e in job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]}
        token_ref = head_env["DISTILLERY_TOKEN"]["valueFrom"]["secretKeyRef"]["name"]
        assert token_ref == entry["tokenSecret"]
        if entry["team"] != "evals":  # evals brings its Secret; the others' are rendered in their namespace
            assert (namespace, token_ref) in secrets
        assert head_env["DISTILLERY_REGISTRY"]["value"].endswith(f":{PORTS['registry']}")


def test_the_controller_fills_each_teams_template_into_a_valid_rayjob_per_stage(tmp_path):
    """The chart's templates are what the kuberay backend submits: read from the mounted
    ConfigMap, filled in per stage, valid against the RayJob CRD, the stage's driver its only job."""
    from distillery.jobs.kuberay import load_templates, rayjob_manifest
    from distillery.jobs.plan import plan_stage, stages_of
    from distillery.jobs.spec import parse_spec
    from tests.crds import validate_custom_resource

    docs = rendered_set("gpu+multiteam")
    for key, text in one(docs, "ConfigMap", "distillery-jobs-rayjob-templates")["data"].items():
        (tmp_path / key).write_text(text)  # as the Deployment mounts it
    templates = load_templates(tmp_path)
    assert set(templates) == {"research", "product", "evals"}
    spec = parse_spec("name: a\nstudent: {workers: 2, gpu: true}")
    outputs = {"teacher": "research/a-thoughts@1", "train": "research/a-student@1"}
    for stage in stages_of(spec):
        run_id = f"job-0123456789ab-{stage}-1"
        manifest = rayjob_manifest(templates["research"], run_id=run_id, job_id="job-0123456789ab",
                                   plan=plan_stage(spec, stage, "research/gsm8k-train@1", outputs))
        validate_custom_resource(manifest)
        metadata, job = manifest["metadata"], manifest["spec"]
        assert metadata["name"] == run_id and "generateName" not in metadata
        assert metadata["namespace"] == "distillery-research"
        assert metadata["labels"]["kueue.x-k8s.io/queue-name"] == "research" and job["suspend"] is True
        assert metadata["labels"]["distillery.io/stage"] == stage
        # The driver reads its typed request by run id: no spec field is on the command line.
        assert job["entrypoint"] == f"python -m distillery.jobs.stage {run_id}" and job["backoffLimit"] == 0
        assert "workerGroupSpecs" not in job["rayClusterSpec"]  # stages drive the services
        head = job["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in head["env"]}
        assert env["DISTILLERY_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == templates["research"].token_secret
        assert env["DISTILLERY_JOBS"]["value"].endswith(f":{PORTS['jobs']}")  # where the driver reads its request
        assert head["securityContext"]["readOnlyRootFilesystem"] and "dst_" not in json.dumps(manifest)
        on_gpu = "nvidia.com/gpu" in head["resources"].get("limits", {})
        assert on_gpu == (stage in ("eval-base", "eval"))  # evaluation generates on the driver
    manifest["spec"]["entrypont"] = manifest["spec"].pop("entrypoint")  # a typo the API server would refuse
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(manifest)


# ---------------------------------------------------------------- Kueue

def test_each_team_gets_a_clusterqueue_in_one_cohort_and_a_localqueue():
    docs = rendered_set("multiteam")
    flavors = {f["metadata"]["name"] for f in by_kind(docs, "ResourceFlavor")}
    assert flavors == {"distillery-cpu", "distillery-gpu"}
    queues = {q["metadata"]["name"]: q["spec"] for q in by_kind(docs, "ClusterQueue")}
    assert set(queues) == {"distillery-research", "distillery-product", "distillery-evals"}
    assert {q["cohortName"] for q in queues.values()} == {"distillery"}
    for name, spec in queues.items():
        team = name.removeprefix("distillery-")
        assert spec["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": f"distillery-{team}"}
        (group,) = spec["resourceGroups"]
        assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
        assert [f["name"] for f in group["flavors"]] == ["distillery-cpu", "distillery-gpu"]  # cpu first
        for flavor in group["flavors"]:
            assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]
    gpu = {r["name"]: r for r in queues["distillery-research"]["resourceGroups"][0]["flavors"][1]["resources"]}
    assert gpu["nvidia.com/gpu"]["nominalQuota"] == "8" and gpu["nvidia.com/gpu"]["borrowingLimit"] == "8"
    assert "borrowingLimit" not in gpu["cpu"]
    evals = {r["name"]: r for r in queues["distillery-evals"]["resourceGroups"][0]["flavors"][0]["resources"]}
    assert evals["cpu"] == {"name": "cpu", "nominalQuota": "16", "borrowingLimit": "16"}  # kueue.defaultQuota
    # LocalQueue: the team's name in the team's namespace (the kuberay backend's default queue-name).
    locals_ = {(q["metadata"]["namespace"], q["metadata"]["name"], q["spec"]["clusterQueue"])
               for q in by_kind(docs, "LocalQueue")}
    assert locals_ == {(f"distillery-{t}", t, f"distillery-{t}") for t in ("research", "product", "evals")}
    namespaces = {n["metadata"]["name"] for n in by_kind(docs, "Namespace")}
    assert namespaces == {"distillery-research", "distillery-product", "distillery-evals"}


# ---------------------------------------------------------------- teacher pool, MinIO, bootstrap

def test_the_teacher_pool_serves_the_model_from_its_claim_on_gpus():
    docs = rendered_set("gpu")
    deploy = one(docs, "Deployment", "distillery-teacher-pool")
    assert deploy["spec"]["replicas"] == 2
    container = main_container(deploy)
    assert container["command"] == ["vllm", "serve"]
    assert container["args"][0] == "/models/qwen2.5-72b-instruct"
    assert "--served-model-name=teacher" in container["args"] and "--tensor-parallel-size=4" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == container["resources"]["requests"]["nvidia.com/gpu"] == 4
    volume = next(v for v in deploy["spec"]["template"]["spec"]["volumes"] if v["name"] == "models")
    assert volume["persistentVolumeClaim"] == {"claimName": "teacher-models", "readOnly": True}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    assert one(docs, "Service", "distillery-teacher-pool")["spec"]["ports"][0]["port"] == 8000
    assert one(docs, "PodDisruptionBudget", "distillery-teacher-pool")["spec"]["maxUnavailable"] == 1
    # Scaling: replicas is a value.
    scaled = render(("values-gpu.yaml",), ("teacherPool.replicas=5",))
    assert one(scaled, "Deployment", "distillery-teacher-pool")["spec"]["replicas"] == 5


def test_the_teacher_pool_can_copy_its_model_from_the_object_store():
    docs = rendered_set("teacher-pool-s3")
    pod = one(docs, "Deployment", "distillery-teacher-pool")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["command"] == ["python", "/etc/distillery/scripts/fetch_model.py", "/models/model"]
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["DISTILLERY_MODEL_PREFIX"] == "models/teacher" and env["DISTILLERY_MODEL_BUCKET"] == "distillery"
    assert pod["containers"][0]["args"][0] == "/models/model"
    assert next(v for v in pod["volumes"] if v["name"] == "models")["emptyDir"]["sizeLimit"] == "200Gi"
    key = {e["name"]: e for e in pod["containers"][0]["env"]}["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert key == {"name": "vllm-api-key", "key": "api-key"}


def teacher_config(docs: list[dict]) -> dict:
    return json.loads(one(docs, "ConfigMap", "distillery-teacher")["data"]["teacher.json"])


def test_teams_pick_the_teacher_pools_by_name_and_each_key_reaches_its_pool_only(tmp_path):
    from distillery.teacher.pools import load_service_config

    docs = rendered_set("secrets")
    teacher = deployment(docs, "teacher")["spec"]["template"]["spec"]
    container = main_container(deployment(docs, "teacher"))
    assert "--config=/etc/distillery/teacher/teacher.json" in container["args"]
    assert not [e for e in container.get("env", []) if "OPENAI" in e["name"]]  # no platform-wide key
    config = teacher_config(docs)
    (tmp_path / "teacher.json").write_text(json.dumps(config))
    service = load_service_config(tmp_path / "teacher.json")  # the service accepts what the chart renders
    assert [p.name for p in service.pools] == ["vllm", "hosted", "partner"]
    assert service.pool("vllm").base_url == "http://distillery-teacher-pool.distillery.svc.cluster.local:8000/v1"
    assert service.pool("hosted").teams == ("research",) and service.pool("hosted").requests_per_second == 5
    assert service.team_endpoints.enabled and service.team_endpoints.allowed_hosts == (".example.org",)
    # Each pool's key is one file, named after the pool, from that pool's Secret.
    mount = next(m for m in container["volumeMounts"] if m["name"] == "pool-keys")
    sources = next(v for v in teacher["volumes"] if v["name"] == "pool-keys")["projected"]["sources"]
    files = {s["secret"]["items"][0]["path"]: (s["secret"]["name"], s["secret"]["items"][0]["key"]) for s in sources}
    assert files == {"vllm": ("distillery-teacher-pool", "api-key"), "hosted": ("distillery-teacher-pools", "hosted"),
                     "partner": ("partner-llm-key", "api-key")}
    assert {str(p.api_key_file) for p in service.pools} == {f"{mount['mountPath']}/{name}" for name in files}
    pool = {e["name"]: e for e in main_container(one(docs, "Deployment", "distillery-teacher-pool"))["env"]}
    assert pool["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "distillery-teacher-pool", "key": "api-key"}
    # No pools, no keys: the default install has an empty list and no key volume.
    default = rendered_set("default")
    assert teacher_config(default) == {"pools": [], "team_endpoints": {"enabled": False, "allowed_hosts": [],
                                                                       "teams": []}}
    assert "pool-keys" not in {v["name"] for v in deployment(default, "teacher")["spec"]["template"]["spec"]["volumes"]}


def test_the_teacher_may_reach_only_dns_the_registry_the_verifier_and_its_pools(rendered):
    name, docs = rendered
    labels = deployment(docs, "teacher")["spec"]["template"]["metadata"]["labels"]
    policies = [p for p in by_kind(docs, "NetworkPolicy") if p["spec"]["podSelector"].get("matchLabels")
                and all(labels.get(k) == v for k, v in p["spec"]["podSelector"]["matchLabels"].items())]
    egress = [p for p in policies if "Egress" in p["spec"]["policyTypes"]]
    assert egress, f"[{name}] no egress NetworkPolicy selects the teacher's pods"
    rules = [rule for p in egress for rule in p["spec"].get("egress", [])]
    assert all(rule.get("to") and rule.get("ports") for rule in rules), f"[{name}] a rule opens every peer or port"

    def component_of(peer: dict) -> str | None:
        return peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")

    allowed = {}
    for rule in rules:
        for peer in rule["to"]:
            key = component_of(peer) or json.dumps(peer, sort_keys=True)
            allowed.setdefault(key, set()).update(p["port"] for p in rule["ports"])
    assert allowed.pop("registry") == {PORTS["registry"]} and allowed.pop("verifier") == {PORTS["verifier"]}
    dns = [k for k in allowed if "kube-dns" in k]
    assert dns and all(allowed.pop(k) == {53} for k in dns)
    config = teacher_config(docs)
    if "vllm" in [p["name"] for p in config["pools"]]:
        assert allowed.pop("teacher-pool") == {8000}
    if name == "secrets":  # the external pools at their peers and ports; team endpoints on HTTPS
        assert allowed.pop('{"ipBlock": {"cidr": "203.0.113.10/32"}}') == {443}
        assert allowed.pop('{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "partner"}}}') == {8080}
        public = [k for k in allowed if "0.0.0.0/0" in k]
        assert len(public) == 1 and "169.254.0.0/16" in public[0] and allowed.pop(public[0]) == {443}
    assert not allowed, f"[{name}] the teacher may also reach {allowed}"


def test_minio_and_the_bootstrap_hook_create_the_buckets_and_register_the_teams():
    docs = rendered_set("multiteam")
    minio = one(docs, "StatefulSet", "distillery-minio")
    env = {e["name"]: e for e in main_container(minio)["env"]}
    assert env["MINIO_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "distillery-s3", "key": "secret-key"}
    assert minio["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "100Gi"
    job = one(docs, "Job", "distillery-bootstrap")
    assert set(job["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"}
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["DISTILLERY_BUCKETS"]["value"] == "distillery,distillery-checkpoints"
    assert env["DISTILLERY_TEAMS"]["value"] == "research,product,evals"
    assert env["DISTILLERY_TEAM_TOKEN_2"]["valueFrom"]["secretKeyRef"] == {"name": "evals-token", "key": "token"}
    scripts = one(docs, "ConfigMap", "distillery-scripts")["data"]
    assert scripts["bootstrap.py"] == (CHART / "files" / "bootstrap.py").read_text()
    assert container["command"] == ["python", "/etc/distillery/scripts/bootstrap.py"]


def test_pdbs_and_the_verifier_hpa():
    docs = rendered_set("default")
    pdbs = {p["metadata"]["name"]: p["spec"] for p in by_kind(docs, "PodDisruptionBudget")}
    assert pdbs["distillery-verifier"]["minAvailable"] == 1
    assert {f"distillery-{c}" for c in PORTS} <= set(pdbs)
    for name, spec in pdbs.items():
        component = name.removeprefix("distillery-")
        assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] == component
    hpa = one(docs, "HorizontalPodAutoscaler", "distillery-verifier")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "distillery-verifier"}
    assert "replicas" not in deployment(docs, "verifier")["spec"]  # the HPA owns it
    local = rendered_set("local")
    assert not by_kind(local, "HorizontalPodAutoscaler") and deployment(local, "verifier")["spec"]["replicas"] == 1


# ---------------------------------------------------------------- the jobs controller's own settings

def test_the_jobs_controller_gets_a_stable_fernet_key_from_a_secret():
    from cryptography.fernet import Fernet

    docs = rendered_set("default")
    env = {e["name"]: e for e in main_container(deployment(docs, "jobs"))["env"]}
    ref = env["DISTILLERY_JOBS_KEY"]["valueFrom"]["secretKeyRef"]
    key = base64.b64decode(one(docs, "Secret", ref["name"])["data"][ref["key"]]).decode()
    token = Fernet(key.encode()).encrypt(b"team-token")  # a key the controller accepts
    assert Fernet(key.encode()).decrypt(token) == b"team-token"
    given = render(set_json=('jobs.existingSecret="my-jobs-key"',))
    env = {e["name"]: e for e in main_container(deployment(given, "jobs"))["env"]}
    assert env["DISTILLERY_JOBS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "my-jobs-key", "key": "jobs-key"}
    assert not [s for s in by_kind(given, "Secret") if s["metadata"]["name"] == "distillery-jobs"]


def test_jobs_quotas_from_values_are_the_controllers_quotas_file():
    from distillery.jobs.config import Quotas

    quotas = {"default": {"max_concurrent_jobs": 2, "max_gpus": 4, "max_workers": 8},
              "teams": {"research": {"max_concurrent_jobs": 8, "max_gpus": 16, "max_workers": 16}}}
    docs = render(set_json=(f"jobs.quotas={json.dumps(quotas)}",))
    container = main_container(deployment(docs, "jobs"))
    assert "--quotas=/etc/distillery/jobs/quotas.yaml" in container["args"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/distillery/jobs")
    volume = next(v for v in deployment(docs, "jobs")["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    data = one(docs, "ConfigMap", volume["configMap"]["name"])["data"]["quotas.yaml"]
    assert Quotas.model_validate(yaml.safe_load(data)).of("research").max_gpus == 16
    assert not any(a.startswith("--quotas") for a in main_container(deployment(rendered_set("default"), "jobs"))["args"])


def test_pod_log_access_for_the_jobs_controller_is_opt_in():
    docs = render(("values-multiteam.yaml",), ("jobs.kuberay.podLogs=true",))
    for role in by_kind(docs, "Role"):
        assert {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]} in role["rules"]
        assert not [r for r in role["rules"] if "secrets" in r["resources"] or "*" in r["verbs"]]
