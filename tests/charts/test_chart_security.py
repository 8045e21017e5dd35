"""The chart's transport security and network isolation, rendered offline with the real helm.

- TLS is on by default: every gRPC service serves its certificate from the TLS Secret (mounted,
  read-only), every in-cluster address is grpcs://, MinIO serves HTTPS and its clients check it
  against the Secret's CA; kubelet's gRPC probes go to the plaintext health-only port; pods that run
  team code (Ray) get the CA, never the services' private key; the real CLI accepts the rendered
  flags.
- Ingress NetworkPolicies (validated by kubernetes-validate, strict, like every built-in object):
  each component admits exactly the callers derived from who calls whom, and one team's RayJob
  pods never admit another team's.
"""

from __future__ import annotations

import json
import re

import click
import kubernetes_validate
import pytest

from distillery.core.ports import HEALTH_PORT, METRICS_PORT, PORTS

from .conftest import CHART, KUBE_VERSION, NAMESPACE, VALUE_SETS, render, rendered_set
from .test_chart import _cli_parse, all_objects, by_kind, deployment, main_container, one, pod_specs

TLS_DIR = "/etc/distillery/tls"
SERVICE_ADDRESS = re.compile(
    r"(grpcs://)?distillery-(verifier|registry|teacher|trainer|jobs)\.[a-z0-9-]+\.svc\.cluster\.local:\d+")


def _volume_of(pod: dict, container: dict, path: str) -> dict | None:
    mount = next((m for m in container.get("volumeMounts", []) if m["mountPath"] == path), None)
    if mount is None:
        return None
    assert mount.get("readOnly") is True, f"{path} is writable"
    return next(v for v in pod["volumes"] if v["name"] == mount["name"])


# ---------------------------------------------------------------- TLS

def test_the_health_port_helper_is_ports_py():
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    block = helpers.split('{{- define "distillery.healthPort" -}}', 1)[1].split("{{- end }}", 1)[0]
    assert int(block) == HEALTH_PORT


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_tls_is_on_by_default_for_every_service(value_set):
    docs = rendered_set(value_set)
    for component in PORTS:
        deploy = deployment(docs, component)
        pod, container = deploy["spec"]["template"]["spec"], main_container(deploy)
        args = container["args"]
        assert {f"--tls-cert={TLS_DIR}/tls.crt", f"--tls-key={TLS_DIR}/tls.key", f"--tls-ca={TLS_DIR}/ca.crt",
                f"--health-port={HEALTH_PORT}"} <= set(args), f"[{value_set}] {component}: {args}"
        volume = _volume_of(pod, container, TLS_DIR)
        assert volume and volume["secret"]["secretName"] == "distillery-tls", f"[{value_set}] {component}"
        assert "items" not in volume["secret"]  # the service needs its key
        # Kubelet's gRPC probes cannot speak TLS: they use the plaintext health-only port.
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == HEALTH_PORT, f"[{value_set}] {component} {probe}"
        # The real CLI accepts these flags (files need not exist to parse: click checks paths at parse
        # time, so point them at a file that does).
        parsed = [re.sub(rf"^(--tls-[a-z-]+)={TLS_DIR}/.*", rf"\1={CHART / 'Chart.yaml'}", a) for a in args]
        try:
            _cli_parse(parsed)
        except LookupError:
            pass  # test_chart reports a missing command
        except click.BadParameter as exc:  # another flag's file (test_chart's business), never ours
            assert "--tls" not in exc.format_message() and "--health" not in exc.format_message()
    # No gRPC address anywhere (flags, env, RayService args, RayJob templates) is plaintext.
    text = json.dumps(all_objects(docs))
    addresses = SERVICE_ADDRESS.findall(text)
    assert addresses
    plaintext = {m.group(0) for m in SERVICE_ADDRESS.finditer(text) if not m.group(1)}
    assert not plaintext, f"[{value_set}] plaintext addresses: {plaintext}"


def test_the_cli_refuses_nothing_the_chart_passes_and_reads_tls_from_it(tmp_path):
    """Parse the registry's rendered command with real files: the flags land in the environment the
    SDKs read."""
    import os

    from distillery.core import channels

    args = main_container(deployment(rendered_set("default"), "registry"))["args"]
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (tmp_path / name).write_text("x")
    saved = {k: os.environ.get(k) for k in (channels.ENV_CERT, channels.ENV_KEY, channels.ENV_CA, channels.ENV_HEALTH_PORT)}
    try:
        _cli_parse([a.replace(TLS_DIR, str(tmp_path)) for a in args])
        assert os.environ[channels.ENV_CERT] == str(tmp_path / "tls.crt")
        assert os.environ[channels.ENV_CA] == str(tmp_path / "ca.crt")
        assert os.environ[channels.ENV_HEALTH_PORT] == str(HEALTH_PORT)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v


@pytest.mark.parametrize("value_set", ["default", "gpu+multiteam"])
def test_ray_pods_trust_the_ca_but_never_hold_the_services_key(value_set):
    docs = rendered_set(value_set)
    seen = 0
    for doc in all_objects(docs):
        if doc["kind"] not in ("RayCluster", "RayService", "RayJob"):
            continue
        for where, pod, _ in pod_specs(doc):
            if where.endswith("/submitter"):
                continue
            container = pod["containers"][0]
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert env["DISTILLERY_TLS_CA"] == f"{TLS_DIR}/ca.crt", where
            assert env["DISTILLERY_S3_CA_BUNDLE"] == f"{TLS_DIR}/ca.crt", where  # Ray Train writes checkpoints
            assert "DISTILLERY_TLS_CLIENT_KEY" not in env
            volume = _volume_of(pod, container, TLS_DIR)
            assert volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}], where
            seen += 1
    assert seen >= 2


def test_minio_serves_https_and_its_clients_check_the_ca():
    docs = rendered_set("gpu")
    minio = one(docs, "StatefulSet", "distillery-minio")
    pod, container = minio["spec"]["template"]["spec"], main_container(minio)
    assert "--certs-dir=/etc/minio/certs" in container["args"]
    certs = _volume_of(pod, container, "/etc/minio/certs")["secret"]
    assert certs["secretName"] == "distillery-tls"
    assert {i["path"] for i in certs["items"]} == {"public.crt", "private.key", "CAs/ca.crt"}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["scheme"] == "HTTPS"
    assert minio["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scheme"] == "https"
    monitor = one(docs, "ServiceMonitor", "distillery-minio")["spec"]["endpoints"][0]
    assert monitor["scheme"] == "https" and monitor["tlsConfig"]["ca"]["secret"]["key"] == "ca.crt"
    for component in ("registry", "trainer", "jobs"):
        c = main_container(deployment(docs, component))
        assert "--s3-secure" in c["args"], component
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["DISTILLERY_S3_CA_BUNDLE"] == f"{TLS_DIR}/ca.crt", component
    job = one(docs, "Job", "distillery-bootstrap")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in job["containers"][0]["env"]}
    assert env["DISTILLERY_S3_SECURE"] == "true" and env["DISTILLERY_S3_CA_BUNDLE"] == f"{TLS_DIR}/ca.crt"
    assert _volume_of(job, job["containers"][0], TLS_DIR)["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]


def test_the_tls_secret_name_mutual_tls_and_opting_out():
    docs = render(set_json=('tls={"secretName": "from-cert-manager", "clientAuth": true}',))
    container = main_container(deployment(docs, "teacher"))
    assert f"--tls-client-ca={TLS_DIR}/ca.crt" in container["args"]
    assert f"--tls-client-cert={TLS_DIR}/tls.crt" in container["args"]
    pod = deployment(docs, "teacher")["spec"]["template"]["spec"]
    assert _volume_of(pod, container, TLS_DIR)["secret"]["secretName"] == "from-cert-manager"
    head = one(docs, "RayCluster", "distillery-ray")["spec"]["headGroupSpec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in head["containers"][0]["env"]}
    assert env["DISTILLERY_TLS_CLIENT_KEY"] == f"{TLS_DIR}/tls.key"  # mTLS: Ray pods must present one

    plain = render(set_json=("tls.enabled=false",))
    text = json.dumps(all_objects(plain))
    assert "grpcs://" not in text and "--tls-cert" not in text and "distillery-tls" not in text
    container = main_container(deployment(plain, "registry"))
    assert f"--health-port={HEALTH_PORT}" in container["args"]
    assert "--s3-secure" not in container["args"]
    assert "--certs-dir=/tmp/certs" in main_container(one(plain, "StatefulSet", "distillery-minio"))["args"]


# ---------------------------------------------------------------- NetworkPolicies

def _component(labels: dict) -> str:
    return labels.get("app.kubernetes.io/component", "?")


def _peers(policy: dict, port: int) -> set[str]:
    """Who may connect to ``port`` of the selected pods: component names, `ns/component` for other
    namespaces, `*` for any peer, or the raw peer for selectors from values."""
    found = set()
    for rule in policy["spec"].get("ingress", []):
        ports = {p["port"] for p in rule.get("ports", [])}
        if ports and port not in ports:
            continue
        if "from" not in rule:
            found.add("*")
            continue
        for peer in rule["from"]:
            labels = peer.get("podSelector", {}).get("matchLabels", {})
            namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            if labels.get("app.kubernetes.io/instance") == "distillery":
                name = _component(labels)
                team = labels.get("distillery.io/team")
                name = f"{name}:{team}" if team else name
                found.add(f"{namespace}/{name}" if namespace else name)
            else:
                found.add(json.dumps(peer, sort_keys=True))
    return found


def _policy(docs: list[dict], name: str, namespace: str = NAMESPACE) -> dict:
    return one(docs, "NetworkPolicy", name, namespace)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_network_policies_are_valid_and_select_their_component(value_set):
    docs = rendered_set(value_set)
    policies = [p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"].endswith("-ingress")]
    assert policies
    for policy in policies:
        kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)
        assert policy["spec"]["policyTypes"] == ["Ingress"]
    names = {p["metadata"]["name"] for p in policies}
    expected = {"distillery-registry-ingress", "distillery-trainer-ingress", "distillery-jobs-ingress"}
    assert expected <= names, names
    for component in ("registry", "trainer", "jobs"):
        selector = _policy(docs, f"distillery-{component}-ingress")["spec"]["podSelector"]["matchLabels"]
        for other in PORTS:
            labels = deployment(docs, other)["spec"]["template"]["metadata"]["labels"]
            matches = all(labels.get(k) == v for k, v in selector.items())
            assert matches == (other == component), f"[{value_set}] {component}'s policy vs {other}'s pods"


def test_each_component_admits_exactly_its_callers():
    docs = rendered_set("default")  # ray backend, RayCluster, MinIO, no students
    registry = _policy(docs, "distillery-registry-ingress")
    assert _peers(registry, PORTS["registry"]) == {"teacher", "trainer", "jobs", "ray"}
    assert _peers(registry, HEALTH_PORT) == {"*"} and _peers(registry, METRICS_PORT) == {"*"}
    trainer = _policy(docs, "distillery-trainer-ingress")
    assert _peers(trainer, PORTS["trainer"]) == {"jobs", "ray"}
    jobs = _policy(docs, "distillery-jobs-ingress")
    assert _peers(jobs, PORTS["jobs"]) == set()  # users come through networkPolicy.clientPeers
    minio = _policy(docs, "distillery-minio-ingress")
    prometheus = json.dumps({"namespaceSelector": {}, "podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "prometheus"}}}, sort_keys=True)
    assert _peers(minio, 9000) == {"registry", "trainer", "jobs", "ray", "bootstrap", prometheus}
    assert _peers(minio, 9001) == set()  # the console: kubectl port-forward only
    ray = _policy(docs, "distillery-ray-ingress")
    operator = json.dumps({"namespaceSelector": {}, "podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "kuberay-operator"}}}, sort_keys=True)
    assert _peers(ray, 6379) == {"ray"}  # GCS: the cluster's own nodes only
    assert _peers(ray, 10001) == {"ray", "trainer"}
    assert _peers(ray, 8265) == {"ray", "jobs", operator}
    assert _peers(ray, 8000) == {"ray", "jobs"}
    assert _peers(ray, 8080) == {"*", "ray"}
    # Nobody outside the callers: the verifier (no egress anyway) and the teacher reach no store.
    for policy in (registry, trainer, minio, ray):
        for port in (PORTS.get(policy["metadata"]["name"].split("-")[1], 0), 9000, 10001):
            assert "verifier" not in _peers(policy, port)
    assert "teacher" not in _peers(minio, 9000) and "teacher" not in _peers(trainer, PORTS["trainer"])


def test_students_rayjobs_and_users_in_a_multiteam_cluster():
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    docs = render(("values-gpu.yaml", "values-multiteam.yaml"), (f"networkPolicy.clientPeers=[{json.dumps(peer)}]",))
    users = json.dumps(peer, sort_keys=True)
    teams = ("research", "product", "evals")
    registry = _policy(docs, "distillery-registry-ingress")
    assert _peers(registry, PORTS["registry"]) == {
        "teacher", "trainer", "jobs", "ray", "student", users, *(f"distillery-{t}/rayjob" for t in teams)}
    assert _peers(_policy(docs, "distillery-trainer-ingress"), PORTS["trainer"]) == {
        "jobs", "ray", *(f"distillery-{t}/rayjob" for t in teams)}
    assert _peers(_policy(docs, "distillery-jobs-ingress"), PORTS["jobs"]) == {users}
    assert users in _peers(_policy(docs, "distillery-ray-ingress"), 8000)
    # A team's RayJob pods admit only the same team's (and the operator, and metrics scrapes).
    for team in teams:
        policy = _policy(docs, f"distillery-rayjob-{team}-ingress", f"distillery-{team}")
        assert policy["spec"]["podSelector"]["matchLabels"]["distillery.io/team"] == team
        assert {p for p in _peers(policy, 6379) if not p.startswith("{")} == {f"rayjob:{team}"}
    # Each student's cluster admits its own nodes, the jobs controller and users on Serve's ports.
    for service in by_kind(docs, "RayService"):
        student = service["metadata"]["labels"]["distillery.io/student"]
        policy = next(p for p in by_kind(docs, "NetworkPolicy")
                      if p["metadata"]["labels"].get("distillery.io/student") == student)
        assert policy["spec"]["podSelector"]["matchLabels"]["distillery.io/student"] == student
        assert _peers(policy, 9000) == {"student", "jobs", users}
        assert _peers(policy, 6379) == {"student"}
        head = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["metadata"]["labels"]
        assert all(head.get(k) == v for k, v in policy["spec"]["podSelector"]["matchLabels"].items())


def test_network_policies_can_be_turned_off_but_the_verifiers_stays():
    docs = render(set_json=("networkPolicy.enabled=false",))
    names = {p["metadata"]["name"] for p in by_kind(docs, "NetworkPolicy")}
    assert not {n for n in names if n.endswith("-ingress")}
    assert "distillery-verifier-deny-egress" in names
