"""Teacher endpoints and keys, attacked for real: two teams, the teacher service over gRPC on
loopback, the registry on a real S3 server, and HTTP listeners on 127.0.0.1 that play the
operator's pool, a team-run (attacker's) endpoint and an internal service.

The holes these close (issue 14, section 2): a job's free `endpoint` received the platform's
OPENAI_API_KEY, the teacher POSTed to any internal URL, and errors echoed upstream bodies.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest

from distillery.registry.client import RegistryClient, header

from distillery.registry.principals import PrincipalCache
from distillery.teacher.backends.base import GenerationRequest
from distillery.teacher.backends.openai_http import OpenAIBackend
from distillery.teacher.client import TeacherClient
from distillery.teacher.config import Sampling
from distillery.teacher.pools import (AddressPolicy, EndpointRefused, TeacherServiceConfig, TeamEndpoints,
                                      check_team_endpoint, load_service_config)
from distillery.teacher.server import create_teacher_server
from distillery.v1 import teacher_pb2 as pb
from distillery.v1 import teacher_config_pb2 as teacher_config_pb
from distillery.cli.exit_codes import ExitCode
from tests.conftest import run_cli
from tests.published_schemas import validate_output
from tests.registry.conftest import ADMIN_TOKEN, registry_config, registry_server, s3_server  # noqa: F401

PLATFORM_KEY = "sk-platform-3f9c1e7a5b"  # the operator's key: must reach the operator's pool only
TEAM_KEY = "sk-team-alpha-88d2"
UPSTREAM_SECRET = "internal-db-password=hunter2-7c1d"  # what an internal service answers
PROGRAM = "a = 3\nb = 4\nans = a + b"


class Listener(ThreadingHTTPServer):
    """An OpenAI-compatible HTTP server that records every request; the path picks the behaviour."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.redirect_to = ""
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{prefix}/v1"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # where a followed redirect would land
        self.server.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": b""})
        self._reply(404, b"{}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
        mode = self.path.split("/")[1]
        if mode == "leak":  # an internal service answering with something it should not show
            self._reply(400, UPSTREAM_SECRET.encode() * 10)
        elif mode == "redirect":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "huge":
            self._reply(200, json.dumps({"choices": [{"message": {"content": "x" * 4096}}]}).encode())
        else:
            n = json.loads(body).get("n", 1)
            self._reply(200, json.dumps({"choices": [{"message": {"content": PROGRAM}}] * n,
                                         "usage": {"completion_tokens": 7 * n}}).encode())

    def _reply(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def listeners():
    pool, attacker = Listener(), Listener()  # the operator's pool; a listener a team runs
    yield pool, attacker
    for server in (pool, attacker):
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _clear(listeners):
    for server in listeners:
        server.requests.clear()


@pytest.fixture(scope="module")
def platform_key_in_env():
    # The platform key sits in the teacher's environment, as OPENAI_API_KEY did before pools.
    previous = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = PLATFORM_KEY
    yield
    if previous is None:
        os.environ.pop("OPENAI_API_KEY", None)
    else:
        os.environ["OPENAI_API_KEY"] = previous


@pytest.fixture(scope="module")
def tokens(registry_server):
    with RegistryClient(registry_server[0], ADMIN_TOKEN) as admin:
        return {team: admin.create_team(team) for team in ("alpha", "beta")}


def service_config(pool: Listener, tmp_path, team_endpoints: dict) -> TeacherServiceConfig:
    key_file = tmp_path / "house-key"
    key_file.write_text(PLATFORM_KEY + "\n")
    quick = {"max_retries": 0, "timeout_s": 10}
    return TeacherServiceConfig.model_validate({
        "pools": [
            {"name": "house", "base_url": pool.url("house"), "models": ["house-model", "house-large"],
             "api_key_file": str(key_file), **quick},
            {"name": "alpha-only", "base_url": pool.url("alpha"), "models": ["m"], "api_key_env": "OPENAI_API_KEY",
             "teams": ["alpha"], **quick},
            {"name": "leaky", "base_url": pool.url("leak"), "models": ["m"], "api_key_env": "OPENAI_API_KEY", **quick},
            {"name": "huge", "base_url": pool.url("huge"), "models": ["m"], "max_response_bytes": 1024, **quick},
        ],
        "team_endpoints": {**team_endpoints, **quick}})


@pytest.fixture(scope="module")
def teachers(registry_server, listeners, tmp_path_factory, platform_key_in_env):
    """Two teacher services: one with the default policy (no team endpoints), one that allows them
    on 127.0.0.1 (the operator listed that host)."""
    registry_address = registry_server[0]
    handles = {}
    for name, team_endpoints in (("locked", {}), ("open", {"enabled": True, "allowed_hosts": ["127.0.0.1"]})):
        work = tmp_path_factory.mktemp(f"teacher-{name}")
        config = service_config(listeners[0], work, team_endpoints)
        # The verifier is never reached here: every call below is refused or fails before verifying.
        handles[name] = create_teacher_server("127.0.0.1:0", registry_address, "127.0.0.1:9", work / "jobs",
                                              PrincipalCache(registry_address), config)
    yield {name: f"127.0.0.1:{handle.port}" for name, handle in handles.items()}
    for handle in handles.values():
        handle.stop(grace_s=1)


PROBLEM = pb.Problem(id="p1", question="Tom has 3 apples and gets 4 more. How many?", answer=7)


def generate(address: str, token: str, endpoint_api_key: str = "", **fields) -> list[pb.GeneratedThought]:
    # This registry holds no evaluation sets: the guard is off unless a test names one.
    fields.setdefault("no_contamination_guard", not fields.get("contamination_guard"))
    generation = teacher_config_pb.TeacherGeneration(thought_types=["pot"], samples=1, **fields)
    request = pb.GenerateRequest(problems=[PROBLEM], generation=generation, endpoint_api_key=endpoint_api_key)
    with TeacherClient(address, token) as client:
        return list(client.generate(request))


def refused(address: str, token: str, **fields) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        generate(address, token, **fields)
    return caught.value


def platform_key_seen(listener: Listener) -> bool:
    return any(PLATFORM_KEY in value for r in listener.requests for value in r["headers"].values())


def test_inline_problems_get_the_contamination_guard_too(teachers, tokens, registry_server, tmp_path):
    """Generate refuses a question of the team's held-out set before any teacher sees it."""
    held_out = tmp_path / "held-out.jsonl"
    held_out.write_text(json.dumps({"id": "h1", "question": PROBLEM.question.replace("3", "5"), "answer": 9}) + "\n")
    with RegistryClient(registry_server[0], tokens["alpha"]) as registry:
        registry.push_file(header("held-out", "problems", stage="test"), held_out)
    error = refused(teachers["open"], tokens["alpha"], backend="annotations", contamination_guard=["held-out"])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "problems[0]" in error.details() and "held-out" in error.details()
    # Another team's guard cannot be named: the dataset is resolved in the caller's team.
    missing = refused(teachers["open"], tokens["beta"], backend="annotations", contamination_guard=["held-out"])
    assert missing.code() == grpc.StatusCode.FAILED_PRECONDITION and "held-out" in missing.details()


# ---------------------------------------------------------------- team endpoints

def test_a_team_endpoint_is_refused_unless_the_operator_allows_it(teachers, tokens, listeners):
    _, attacker = listeners
    error = refused(teachers["locked"], tokens["alpha"], backend="openai", model="m", endpoint=attacker.url("ok"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "endpoint" in error.details() and "pool" in error.details()
    # The same through a dataset job: refused before anything is read or sent.
    job = pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="gsm8k-train@1", backend="openai", model="m", endpoint=attacker.url("ok"), out="x"))
    with TeacherClient(teachers["locked"], tokens["alpha"]) as client, pytest.raises(grpc.RpcError) as caught:
        list(client.run_job(job))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert attacker.requests == []


def test_an_allowed_team_endpoint_gets_the_teams_key_and_never_the_platforms(teachers, tokens, listeners):
    _, attacker = listeners
    thoughts = generate(teachers["open"], tokens["alpha"], backend="openai", model="m", endpoint=attacker.url("ok"),
                        endpoint_api_key=TEAM_KEY)
    assert [t.text for t in thoughts] == [PROGRAM]
    keyless = generate(teachers["open"], tokens["beta"], endpoint=attacker.url("ok"), model="m")  # backend inferred
    assert len(keyless) == 1
    assert len(attacker.requests) == 2
    assert attacker.requests[0]["headers"]["Authorization"] == f"Bearer {TEAM_KEY}"
    assert "Authorization" not in attacker.requests[1]["headers"]  # no key given: none sent
    assert not platform_key_seen(attacker)


def test_a_team_endpoint_outside_the_allowed_hosts_is_refused(teachers, tokens, listeners):
    _, attacker = listeners
    other_name = attacker.url("ok").replace("127.0.0.1", "localhost")  # same listener, unlisted host name
    error = refused(teachers["open"], tokens["alpha"], model="m", endpoint=other_name)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "localhost" in error.details()
    bad_url = refused(teachers["open"], tokens["alpha"], model="m",
                      endpoint=f"http://user:{PLATFORM_KEY}@127.0.0.1:1/v1")
    assert bad_url.code() == grpc.StatusCode.INVALID_ARGUMENT and "endpoint" in bad_url.details()
    assert PLATFORM_KEY not in bad_url.details()
    assert attacker.requests == []


def test_redirects_are_not_followed(teachers, tokens, listeners):
    """An allowed endpoint answering 302 cannot bounce the teacher (and the key) into the cluster."""
    pool, attacker = listeners
    attacker.redirect_to = pool.url("house") + "/chat/completions"
    error = refused(teachers["open"], tokens["alpha"], model="m", endpoint=attacker.url("redirect"),
                    endpoint_api_key=TEAM_KEY)
    assert error.code() == grpc.StatusCode.UNAVAILABLE and "HTTP 302" in error.details()
    assert pool.requests == [] and len(attacker.requests) == 1


def test_internal_addresses_are_refused_without_an_allow_list(listeners):
    policy = TeamEndpoints(enabled=True)
    for url in ("http://127.0.0.1:8000/v1", "http://169.254.169.254/latest", "http://10.1.2.3/v1",
                "http://[::1]:9000/v1", "http://[::ffff:192.168.0.1]/v1", "http://100.64.0.1/v1",
                "http://localhost/v1"):
        with pytest.raises(EndpointRefused, match="not on a public address"):
            check_team_endpoint(url, policy)
    check_team_endpoint("https://93.184.216.34/v1", policy)  # a public address passes
    with pytest.raises(EndpointRefused, match="does not accept team endpoints"):
        check_team_endpoint("https://93.184.216.34/v1", TeamEndpoints())
    # DNS rebinding: the name passed the check, then resolves to loopback. The check on the
    # connected socket refuses it before a byte is sent.
    _, attacker = listeners
    backend = OpenAIBackend(attacker.url("ok"), "m", api_key=lambda: TEAM_KEY, max_retries=0,
                            address_check=AddressPolicy("rebinding.example", ()).check)
    [generation] = backend.generate([GenerationRequest({"question": "q"}, "pot", 1)], Sampling())
    assert generation.texts == [] and "not on a public address" in generation.errors[0]
    assert attacker.requests == []


# ---------------------------------------------------------------- pools

def test_teams_pick_the_operators_pools_by_name(teachers, tokens, listeners):
    pool, attacker = listeners
    thoughts = generate(teachers["locked"], tokens["alpha"], pool="house")
    assert [t.text for t in thoughts] == [PROGRAM]
    generate(teachers["locked"], tokens["beta"], backend="openai", pool="house", model="house-large")
    assert [json.loads(r["body"])["model"] for r in pool.requests] == ["house-model", "house-large"]
    assert all(r["headers"]["Authorization"] == f"Bearer {PLATFORM_KEY}" for r in pool.requests)

    unknown = refused(teachers["locked"], tokens["alpha"], pool="nope")
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'nope'" in unknown.details() and "house, alpha-only, leaky, huge" in unknown.details()
    # Another team is not shown the pools it may not use.
    assert "available: house, leaky, huge" in refused(teachers["locked"], tokens["beta"], pool="nope").details()
    wrong_model = refused(teachers["locked"], tokens["alpha"], pool="house", model="gpt-9")
    assert wrong_model.code() == grpc.StatusCode.INVALID_ARGUMENT and "house-model" in wrong_model.details()
    both = refused(teachers["locked"], tokens["alpha"], pool="house", endpoint=attacker.url("ok"), model="m")
    assert both.code() == grpc.StatusCode.INVALID_ARGUMENT and "pool" in both.details()
    # A team's key goes with a team's endpoint only, never to a pool.
    keyed = refused(teachers["locked"], tokens["alpha"], pool="house", endpoint_api_key=TEAM_KEY)
    assert keyed.code() == grpc.StatusCode.INVALID_ARGUMENT and "endpoint_api_key" in keyed.details()
    not_http = refused(teachers["locked"], tokens["alpha"], backend="annotations", pool="house")
    assert not_http.code() == grpc.StatusCode.INVALID_ARGUMENT and "pool" in not_http.details()
    # A pool the operator gave to one team.
    assert generate(teachers["locked"], tokens["alpha"], pool="alpha-only")
    other_team = refused(teachers["locked"], tokens["beta"], pool="alpha-only")
    assert other_team.code() == grpc.StatusCode.PERMISSION_DENIED and "alpha-only" in other_team.details()
    assert attacker.requests == []


def test_each_team_lists_the_pools_it_may_use_and_never_another_teams(teachers, tokens, tmp_path):
    """`distillery teacher pools` (ListPools, with the caller's token): what a job's `pool` may
    name, with the models each serves; a pool the operator gave to alpha only is not shown to beta."""
    def pools(teacher: str, token: str, *flags: str, ok: bool = True):
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")},
               "DISTILLERY_HOME": str(tmp_path), "DISTILLERY_TEACHER": teachers[teacher], "DISTILLERY_TOKEN": token}
        return run_cli(env, "teacher", "pools", *flags, ok=ok, timeout=60)

    alpha = json.loads(pools("locked", tokens["alpha"], "--json").stdout)
    validate_output(alpha, "teacher-pools")
    assert alpha == {"pools": [
        {"name": "house", "models": ["house-model", "house-large"], "restricted": False},
        {"name": "alpha-only", "models": ["m"], "restricted": True},
        {"name": "leaky", "models": ["m"], "restricted": False},
        {"name": "huge", "models": ["m"], "restricted": False}], "team_endpoints": False}
    beta = json.loads(pools("open", tokens["beta"], "--json").stdout)
    assert [p["name"] for p in beta["pools"]] == ["house", "leaky", "huge"] and beta["team_endpoints"] is True
    # The text form: one pool a line, its models; nothing of its URL or key.
    text = pools("locked", tokens["alpha"])
    assert text.stdout.splitlines()[:2] == ["house       house-model, house-large",
                                            "alpha-only  m  (restricted to some teams)"]
    assert "127.0.0.1" not in text.stdout + text.stderr and PLATFORM_KEY not in text.stdout + text.stderr
    # Authenticated like every teacher call: an unknown token is refused, exit 5.
    unknown = pools("locked", "not-a-token", "--json", ok=False)
    assert unknown.returncode == ExitCode.DENIED and unknown.stdout == "", unknown.stderr


def test_upstream_replies_never_reach_the_caller(teachers, tokens, listeners, registry_server, tmp_path):
    pool, _ = listeners
    error = refused(teachers["locked"], tokens["alpha"], pool="leaky")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "HTTP 400" in error.details() and "leaky" in error.details()
    assert UPSTREAM_SECRET not in error.details() and "127.0.0.1" not in error.details()
    huge = refused(teachers["locked"], tokens["alpha"], pool="huge")
    assert huge.code() == grpc.StatusCode.UNAVAILABLE and "exceeds 1024 bytes" in huge.details()

    # A dataset job on that pool stops with the same short error and keeps nothing of the batch.
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"id": "p1", "question": PROBLEM.question, "answer": 7}) + "\n")
    with RegistryClient(registry_server[0], tokens["alpha"]) as alpha:
        alpha.push_file(header("tiny-problems", "problems"), problems)
    job = pb.TeacherJob(config=teacher_config_pb.TeacherJobConfig(problems="tiny-problems@1", pool="leaky", thought_types=["pot"], out="leaky-thoughts",
                        no_contamination_guard=True))  # this registry has no benchmarks to guard against
    with TeacherClient(teachers["locked"], tokens["alpha"]) as client, pytest.raises(grpc.RpcError) as caught:
        list(client.run_job(job))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and "HTTP 400" in caught.value.details()
    assert UPSTREAM_SECRET not in caught.value.details()

    # The backend itself: the error names status and reason, not the body or the URL.
    backend = OpenAIBackend(pool.url("leak"), "m", max_retries=0)
    [generation] = backend.generate([GenerationRequest({"question": "q"}, "pot", 1)], Sampling())
    assert generation.failed and generation.errors == ["endpoint: HTTP 400 (the request was rejected)"]


# ---------------------------------------------------------------- the operator's config

def test_the_service_config_names_every_bad_field(tmp_path):
    bad = tmp_path / "teacher.yaml"
    bad.write_text("pools:\n  - {name: Bad_Name, base_url: 'ftp://x', models: []}\n"
                   "  - {name: ok, base_url: 'http://x/v1', models: [m], api_key_env: K, api_key_file: /k}\n"
                   "team_endpoints: {enabled: yes, allowed_host: [x]}\n")
    with pytest.raises(ValueError) as caught:
        load_service_config(bad)
    message = str(caught.value)
    for field in ("pools.0.name", "pools.0.base_url", "pools.0.models", "pools.1: ", "api_key_file",
                  "team_endpoints.allowed_host"):
        assert field in message, (field, message)
    dupes = tmp_path / "dupes.json"
    dupes.write_text(json.dumps({"pools": [{"name": "a", "base_url": "http://x", "models": ["m"]}] * 2}))
    with pytest.raises(ValueError, match="pool names repeat"):
        load_service_config(dupes)
    assert load_service_config(None) == TeacherServiceConfig()  # no file: no pools, no team endpoints
    assert not TeacherServiceConfig().team_endpoints.enabled
