"""Students served on the local stack's Ray Serve: real SmolLM2 replicas (HF engine), the real
verifier running the thoughts, the real registry checking tokens, HTTP and gRPC over loopback.

One deployment for the module (pulled from the registry as a model version, like a trained
student): solve over HTTP, gRPC and the CLI; the OpenAI routes, also through the teacher's
OpenAI backend; authentication and bad requests; Prometheus metrics; autoscaling up under
concurrency and back down; a replica killed under traffic. Attacks on the shared front: bodies,
prompt lists and questions too large for one request, a team flooding a deployment another team
uses too, and anonymous listing of the teams' deployments through Serve's own routes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import urllib.parse
from http.client import HTTPConnection

import grpc
import pytest
from ray.serve.generated import serve_pb2, serve_pb2_grpc

from distillery.student.ensemble import fallback, vote
from distillery.student.generation import HFGenerator
from distillery.registry.client import RegistryClient, header
from distillery.serving.client import StudentClient, StudentError, StudentGrpcClient
from distillery.verifier.records import ThoughtRecord
from tests.conftest import listening_beyond_loopback, local_stack
from tests.conftest import run_cli as cli
from tests.published_schemas import validate_output

QUESTION = "Tom has 3 boxes with 4 apples in each box. He eats 2 apples. How many apples are left?"
MAX_NEW_TOKENS = 48
STATUSES = {"ok", "no_answer", "parse_error", "exec_error", "timeout", "resource_limit", "unsafe"}


@dataclass
class Served:
    env: dict
    url: str
    grpc_address: str
    token: str
    other_token: str
    model: str
    metrics_url: str
    admin_token: str
    http_base: str  # Serve's HTTP proxy, for its own routes



@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_data, smollm2):
    home = tmp_path_factory.mktemp("serving") / "home"
    for env in local_stack(home, shared_data):
        state = json.loads((home / "stack.json").read_text())
        token = (home / "token").read_text().strip()
        with RegistryClient(state["registry"]["address"], token) as registry:
            model = registry.push_files(header("smol-student", "model", stage="train"), smollm2).ref
        with RegistryClient(state["registry"]["address"], (home / "admin.token").read_text().strip()) as admin:
            other_token = admin.create_team("other")
        deployed = json.loads(cli(
            env, "serve", "smol-student", "--name", "smol", "--backend", "hf", "--max-new-tokens",
            str(MAX_NEW_TOKENS), "--min-replicas", "1", "--max-replicas", "2", "--target-ongoing-requests", "2",
            "--upscale-delay-s", "1", "--downscale-delay-s", "4", "--max-batch-size", "8", "--json").stdout)
        yield Served(env=env, url=deployed["url"], grpc_address=deployed["grpc"], token=token,
                     other_token=other_token, model=model,
                     metrics_url=f"http://127.0.0.1:{state['ray_ports']['metrics']}/metrics",
                     admin_token=(home / "admin.token").read_text().strip(),
                     http_base=f"http://127.0.0.1:{state['ray_ports']['serve_http']}")


@pytest.fixture(scope="module")
def local_student(smollm2):
    """The same weights in this process: what the served replicas must generate, greedily."""
    generator = HFGenerator(smollm2, max_new_tokens=MAX_NEW_TOKENS)
    yield generator
    generator.close()


def _json_or_text(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def http(url, token=None, body=None, method=None, timeout=300) -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method or ("POST" if data else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _json_or_text(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, _json_or_text(exc.read()), dict(exc.headers)


def test_solve_returns_the_students_own_thought_executed_by_the_verifier(served, local_student, verifier):
    reply = StudentClient(served.url, served.token).solve(QUESTION, ["pot"], "single")
    [thought] = reply["thoughts"]
    expected = local_student.generate([(QUESTION, "pot")]).thoughts[0]
    assert thought["type"] == "pot" and thought["text"] == expected  # greedy: the replica's output is the model's
    [verdict] = verifier.verify_many([ThoughtRecord(id=0, thought_type="pot", text=expected)])
    assert thought["status"] == verdict.status.value and thought["answer"] == verdict.answer
    assert reply["answer"] == (verdict.answer if verdict.status.value == "ok" else None)
    assert reply["model"] == served.model and reply["latency_ms"] > 0


@pytest.mark.parametrize("strategy", ["vote", "fallback"])
def test_etd_strategies_combine_the_three_thoughts(served, strategy):
    reply = StudentClient(served.url, served.token).solve(QUESTION, ["eot", "pot", "cot"], strategy)
    assert [t["type"] for t in reply["thoughts"]] == ["eot", "pot", "cot"]
    assert all(t["status"] in STATUSES and t["text"] and t["sample"] == -1 for t in reply["thoughts"])
    answers = {t["type"]: t["answer"] for t in reply["thoughts"] if t["status"] == "ok"}
    chosen = (vote if strategy == "vote" else fallback)(answers)
    assert reply["method"] == chosen and reply["answer"] == (answers[chosen] if chosen else None)


def test_self_consistency_votes_over_greedy_and_sampled_thoughts(served):
    reply = StudentClient(served.url, served.token).solve(QUESTION, ["pot", "cot"], "vote", samples=2,
                                                          temperature=1.0)
    assert [(t["type"], t["sample"]) for t in reply["thoughts"]] == [
        ("pot", -1), ("cot", -1), ("pot", 0), ("pot", 1), ("cot", 0), ("cot", 1)]
    assert all(t["status"] in STATUSES and t["text"] for t in reply["thoughts"])  # every one verified
    executed = [round(t["answer"], 3) for t in reply["thoughts"] if t["status"] == "ok"]
    if not executed:
        assert reply["answer"] is None and reply["method"] is None
    else:  # the answer most executed thoughts share, from a thought that gave it
        assert executed.count(round(reply["answer"], 3)) == max(executed.count(a) for a in executed)
        assert any(t["type"] == reply["method"] and t["answer"] == reply["answer"] for t in reply["thoughts"])


def test_grpc_solve_matches_http(served):
    http_reply = StudentClient(served.url, served.token).solve(QUESTION, ["pot"], "single")
    with StudentGrpcClient(served.grpc_address, "smol", served.token) as client:
        reply = client.solve(QUESTION, ["pot"], "single", samples=1, temperature=0.8)
    assert [(t.type, t.sample) for t in reply.thoughts] == [("pot", -1), ("pot", 0)]  # the greedy one, one sample
    assert reply.thoughts[1].status in STATUSES and reply.thoughts[1].text
    assert reply.thoughts[0].text == http_reply["thoughts"][0]["text"]
    assert reply.thoughts[0].status == http_reply["thoughts"][0]["status"] and reply.model == served.model
    with StudentGrpcClient(served.grpc_address, "smol", None) as anonymous, \
            StudentGrpcClient(served.grpc_address, "smol", served.other_token) as other, \
            StudentGrpcClient(served.grpc_address, "smol", served.token) as own:
        for client, code in ((anonymous, grpc.StatusCode.UNAUTHENTICATED), (other, grpc.StatusCode.PERMISSION_DENIED)):
            with pytest.raises(grpc.RpcError) as denied:
                client.solve(QUESTION)
            assert denied.value.code() == code
        with pytest.raises(grpc.RpcError) as invalid:
            own.solve("   ", ["pot", "sot"])
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "question" in invalid.value.details() and "methods.1" in invalid.value.details()


def test_openai_routes_serve_the_teacher_backend(served):
    from distillery.teacher.backends.base import GenerationRequest
    from distillery.teacher.backends.openai_http import OpenAIBackend
    from distillery.teacher.config import Sampling

    status, models, _ = http(f"{served.url}/v1/models", served.token)
    assert status == 200 and models["data"][0]["id"] == served.model
    backend = OpenAIBackend(served.url, served.model, api_key=lambda: served.token)
    [generation] = backend.generate([GenerationRequest(problem={"id": "1", "question": QUESTION},
                                                       thought_type="pot", samples=2)],
                                    Sampling(temperature=0.7, top_p=0.95, max_tokens=32))
    assert not generation.errors and len(generation.texts) == 2 and generation.output_tokens > 0
    status, reply, _ = http(f"{served.url}/v1/completions", served.token,
                            {"model": served.model, "prompt": ["1, 2, 3,", "The capital of France is"],
                             "max_tokens": 5, "temperature": 0, "stop": ["\n"]})
    assert status == 200 and len(reply["choices"]) == 2
    assert reply["usage"]["completion_tokens"] <= 10 and reply["usage"]["prompt_tokens"] > 0
    assert all(c["finish_reason"] in ("stop", "length") and "\n" not in c["text"] for c in reply["choices"])
    status, reply, _ = http(f"{served.url}/v1/completions", served.token, {"model": "gpt-4", "prompt": "x"})
    assert status == 404 and "not served here" in reply["error"]["message"]


ROUTES = [("/v1/solve", {"question": QUESTION}), ("/v1/completions", {"prompt": "x"}),
          ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}), ("/v1/models", None)]


@pytest.mark.parametrize("path, body", ROUTES)
def test_every_route_needs_a_token_of_a_team_that_may_see_the_model(served, path, body):
    status, reply, headers = http(served.url + path, None, body)
    assert status == 401 and reply["error"]["message"] == "missing bearer token"
    assert headers.get("www-authenticate", headers.get("WWW-Authenticate")) == "Bearer"
    assert http(served.url + path, "dst_not_a_token", body)[0] == 401
    status, reply, _ = http(served.url + path, served.other_token, body)
    assert status == 403 and served.model in reply["error"]["message"]


@pytest.mark.parametrize("body, message", [
    ({"question": ""}, "question: must not be empty"),
    ({"question": "x" * 4001}, "question: is 4001 characters; at most 4000"),
    ({"question": "q", "methods": ["pot", "lot"]}, "methods.1: Input should be 'eot', 'pot' or 'cot'"),
    ({"question": "q", "methods": ["pot", "eot"], "strategy": "single"}, "exactly one method"),
    ({"question": "q", "samples": 9}, "samples: is 9; at most 8 (max_solve_samples)"),
    (b"{not json", "Invalid JSON"),
])
def test_bad_requests_get_a_400_naming_the_field(served, body, message):
    status, reply, _ = http(f"{served.url}/v1/solve", served.token, body)
    assert status == 400 and message in reply["error"]["message"]


def test_cli_serve_ls_solve_and_rm_respect_teams(served):
    rows = json.loads(cli(served.env, "serve", "ls", "--json").stdout)
    validate_output(rows, "deployments")
    [row] = [r for r in rows if r["name"] == "smol"]
    assert row["model"] == served.model and row["team"] == "default" and row["url"] == served.url
    assert row["max_new_tokens"] == MAX_NEW_TOKENS and row["autoscaling"]["max_replicas"] == 2  # typed, not text
    other_env = {**served.env, "DISTILLERY_TOKEN": served.other_token}
    assert json.loads(cli(other_env, "serve", "ls", "--json").stdout) == []
    refused = cli(other_env, "serve", "rm", "smol", ok=False)
    assert refused.returncode != 0 and "belongs to another team" in refused.stderr
    out = json.loads(cli(served.env, "solve", QUESTION, "--name", "smol", "--methods", "cot",
                         "--strategy", "single", "--json").stdout)
    validate_output(out, "solve")
    assert out["thoughts"][0]["type"] == "cot" and out["model"] == served.model
    printed = cli(served.env, "solve", QUESTION, "--endpoint", served.url, "--methods", "pot", "--samples", "1",
                  "--temperature", "0.9").stdout
    assert printed.startswith("answer: ") and "--- pot: " in printed and "--- pot sample 0: " in printed



def test_cli_solve_finds_the_teams_only_deployment_and_names_them_for_a_wrong_name(served):
    """No --name: the team's one deployment; a wrong --name: one line naming the team's
    deployments, exit NOT_FOUND (4), never Ray's raw 404 text nor "pass --name"."""
    from distillery.cli.exit_codes import ExitCode

    out = json.loads(cli(served.env, "solve", QUESTION, "--methods", "pot", "--strategy", "single", "--json").stdout)
    assert out["model"] == served.model
    wrong = cli(served.env, "solve", QUESTION, "--name", "nope", ok=False)
    assert wrong.returncode == ExitCode.NOT_FOUND, wrong.stderr
    assert wrong.stderr.strip().splitlines()[-1] == "Error: no deployment named 'nope'; your team's: smol"
    assert "pass --name" not in wrong.stderr and "HTTP 404" not in wrong.stderr
    other = cli({**served.env, "DISTILLERY_TOKEN": served.other_token}, "solve", QUESTION, ok=False)
    assert other.returncode == ExitCode.NOT_FOUND and "your team has none" in other.stderr, other.stderr

# --- one request must not take the front down; one team must not starve another ----------------


def _still_serving(served) -> None:
    """What the attack must not have cost: the team's /v1/models and a normal solve answer."""
    status, models, _ = http(f"{served.url}/v1/models", served.token, timeout=30)
    assert status == 200 and models["data"][0]["id"] == served.model
    reply = StudentClient(served.url, served.token, timeout_s=120).solve(QUESTION, ["pot"], "single")
    assert reply["model"] == served.model and reply["thoughts"][0]["type"] == "pot"


def _raw_post(url: str, token: str, headers: dict, chunks, timeout: float = 60) -> tuple[int, dict]:
    """POST with exactly these headers and body chunks (chunked when no Content-Length is given);
    the reply may come before the whole body is sent."""
    parts = urllib.parse.urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        chunked = "Content-Length" not in headers
        connection.putrequest("POST", parts.path)
        for name, value in {"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                            **({"Transfer-Encoding": "chunked"} if chunked else {}), **headers}.items():
            connection.putheader(name, value)
        connection.endheaders()
        try:
            for chunk in chunks:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-body: the reply is already there
        response = connection.getresponse()
        return response.status, _json_or_text(response.read())
    finally:
        connection.close()


def test_a_huge_completions_body_is_refused_before_it_is_read(served):
    """The reported attack: 2.8 MB, 200,000 prompts. 413 naming the limit; the replica stays."""
    body = json.dumps({"model": served.model, "prompt": ["1 2 3 4 5 6 7"] * 200_000, "max_tokens": 1}).encode()
    assert len(body) > 2_800_000
    status, reply, _ = http(f"{served.url}/v1/completions", served.token, body, timeout=60)
    assert status == 413, reply
    assert "max_body_bytes" in reply["error"]["message"] and "1048576" in reply["error"]["message"]
    _still_serving(served)


def test_a_streamed_body_is_cut_at_the_limit_and_the_proxy_refuses_any_beyond_its_ceiling(served):
    status, reply = _raw_post(f"{served.url}/v1/completions", served.token, {},
                              (b'{"prompt": ["' + b"x" * 65536 for _ in range(40)))  # 2.5 MiB, chunked
    assert status == 413 and "max_body_bytes" in reply["error"]["message"], reply
    # A declared 1 GiB body: refused by Serve's proxy on its header, before one byte reaches a replica.
    status, reply = _raw_post(f"{served.url}/v1/solve", served.token, {"Content-Length": str(1 << 30)},
                              [b'{"question": "' + b"x" * 1024])
    assert status == 413 and "ceiling" in reply["error"]["message"], reply
    _still_serving(served)


OVER_LIMITS = [
    ("/v1/completions", {"prompt": ["x"] * 1000, "max_tokens": 1}, "prompt: 1000 prompts; at most 64 (max_prompts)"),
    ("/v1/completions", {"prompt": ["x"] * 8, "n": 16, "max_tokens": 1},
     "n x prompts is 128; at most 64 (max_choices)"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "n": 16, "max_tokens": 5000},
     "max_tokens: is 5000; at most 2048 (max_tokens)"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}] * 100, "max_tokens": 1},
     "messages: 100 messages; at most 64 (max_messages)"),
    ("/v1/solve", {"question": "x" * 4001}, "question: is 4001 characters; at most 4000 (max_question_chars)"),
]


@pytest.mark.parametrize("path, body, message", OVER_LIMITS, ids=[m.split(":")[0].split()[0] for *_, m in OVER_LIMITS])
def test_requests_over_a_limit_get_a_400_naming_it_and_the_service_keeps_serving(served, path, body, message):
    status, reply, _ = http(served.url + path, served.token, body, timeout=60)
    assert status == 400 and message in reply["error"]["message"], reply
    assert reply["error"]["type"] == "invalid_request_error"
    _still_serving(served)


def test_grpc_refuses_a_too_long_question_and_an_oversized_message(served):
    with StudentGrpcClient(served.grpc_address, "smol", served.token) as client:
        with pytest.raises(grpc.RpcError) as too_long:
            client.solve("x" * 4001, ["pot"], "single", timeout_s=60)
        assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 4000 (max_question_chars)" in too_long.value.details()
        with pytest.raises(grpc.RpcError) as oversized:  # refused by the proxy, never reaching a replica
            client.solve("x" * (5 << 20), ["pot"], "single", timeout_s=60)
        assert oversized.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert client.solve(QUESTION, ["pot"], "single").model == served.model


@pytest.fixture(scope="module")
def shared_student(served):
    """A deployment two teams use: team "other" serves the base model (open to every team), with
    small limits set by the flags; team "default" will flood it. It reserves no CPU: the later
    autoscaling test needs the stack's CPUs for the second "smol" replica."""
    other_env = {**served.env, "DISTILLERY_TOKEN": served.other_token}
    deployed = json.loads(cli(
        other_env, "serve", "smollm2-135m-instruct", "--name", "shared", "--backend", "hf", "--max-new-tokens", "16",
        "--num-cpus", "0", "--team-max-concurrent", "1", "--max-question-chars", "500", "--max-body-bytes", "4096",
        "--json").stdout)
    yield deployed["url"]
    cli(other_env, "serve", "rm", "shared", ok=False)


def test_a_team_over_its_concurrency_limit_gets_429_and_other_teams_are_served(served, shared_student):
    with RegistryClient(json.loads((Path(served.env["DISTILLERY_HOME"]) / "stack.json").read_text())
                        ["registry"]["address"], served.admin_token) as admin:
        second_token = admin.create_token("default")  # the same team: it shares the team's limit
    # The flags reached the deployment.
    status, reply, _ = http(f"{shared_student}/v1/solve", served.token, {"question": "x" * 501})
    assert status == 400 and "at most 500 (max_question_chars)" in reply["error"]["message"]
    status, reply, _ = http(f"{shared_student}/v1/solve", served.token, {"question": "x" * 5000})
    assert status == 413 and "at most 4096 bytes (max_body_bytes)" in reply["error"]["message"]

    long = {"prompt": "Count: 1, 2, 3, 4, 5, 6,", "max_tokens": 160, "n": 2, "temperature": 0}
    held: dict = {}
    holder = threading.Thread(target=lambda: held.update(
        reply=http(f"{shared_student}/v1/completions", served.token, long, timeout=600)))
    holder.start()
    time.sleep(1.5)  # the team's one slot is taken
    try:
        assert holder.is_alive(), held
        for token in (served.token, second_token):
            status, reply, headers = http(f"{shared_student}/v1/solve", token, {"question": QUESTION,
                                                                                  "methods": ["pot"]})
            assert status == 429, reply
            assert "team_max_concurrent" in reply["error"]["message"] and "1" in reply["error"]["message"]
            assert reply["error"]["type"] == "rate_limit_error"
            assert {k.lower(): v for k, v in headers.items()}.get("retry-after")
        status, reply, _ = http(f"{shared_student}/v1/completions", served.token, {"prompt": "1, 2,", "max_tokens": 2})
        assert status == 429  # every route counts
        # The other team, on the same deployment at the same time: served.
        status, reply, _ = http(f"{shared_student}/v1/solve", served.other_token,
                                {"question": QUESTION, "methods": ["pot"], "strategy": "single"})
        assert status == 200 and reply["thoughts"][0]["type"] == "pot", reply
    finally:
        holder.join(timeout=600)
    assert held["reply"][0] == 200, held
    status, _, _ = http(f"{shared_student}/v1/solve", second_token,
                        {"question": QUESTION, "methods": ["pot"], "strategy": "single"})
    assert status == 200  # the slot came back


def test_serves_own_routes_list_no_deployment_to_a_caller_without_a_token(served):
    names = ("smol", "shared", "smollm2", served.model, "other", "default")
    status, reply, _ = http(f"{served.http_base}/-/routes", timeout=30)
    assert status != 200 and not any(name in json.dumps(reply) for name in names), reply
    for path in ("/smol/openapi.json", "/shared/openapi.json", "/smol/docs", "/shared/redoc", "/openapi.json"):
        status, reply, _ = http(served.http_base + path, timeout=30)
        assert status == 401 and not any(name in json.dumps(reply) for name in names[1:]), (path, reply)
        # With a token: the applications serve no schema or docs either.
        status, reply, _ = http(served.http_base + path, served.other_token, timeout=30)
        assert status == 404 and "paths" not in json.dumps(reply), (path, reply)
    # No oracle either: a deployed name and a free one answer an anonymous caller alike.
    assert http(f"{served.http_base}/no-such-deployment/v1/models")[:2] == http(f"{served.url}/v1/models")[:2]
    with grpc.insecure_channel(served.grpc_address) as channel:
        stub = serve_pb2_grpc.RayServeAPIServiceStub(channel)
        with pytest.raises(grpc.RpcError) as listing:
            stub.ListApplications(serve_pb2.ListApplicationsRequest(), timeout=30)
        assert listing.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "shared" not in (listing.value.details() or "")
        assert stub.Healthz(serve_pb2.HealthzRequest(), timeout=30).message  # health checks stay open
    assert http(f"{served.http_base}/-/healthz", timeout=30)[0] == 200


def test_the_served_stack_listens_on_loopback_but_for_serves_internal_grpc(served):
    """Serve's HTTP and gRPC proxies and the rest of the stack bind 127.0.0.1 only. The one
    exception is Ray Serve's own: 2.60 hard-codes ``[::]:0`` for the inter-deployment gRPC server
    of every replica and proxy actor (Ray's token auth guards it); nothing else may appear."""
    state = json.loads((Path(served.env["DISTILLERY_HOME"]) / "stack.json").read_text())
    pids = [entry["pid"] for entry in state.values() if isinstance(entry, dict) and "pid" in entry]
    exposed = listening_beyond_loopback(pids)
    assert len(pids) == 7
    assert all(e.startswith(("ray::ServeReplica", "ray::ProxyActor")) and e.split()[-1].startswith(":::")
               for e in exposed), exposed


def test_prometheus_metrics_count_requests_and_thoughts(served):
    StudentClient(served.url, served.token).solve(QUESTION, ["pot"], "single")
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        text = urllib.request.urlopen(served.metrics_url, timeout=30).read().decode()
        if 'route="solve"' in text and "distillery_student_thoughts" in text:
            break
        time.sleep(2)
    requests = [line for line in text.splitlines() if line.startswith("ray_distillery_student_requests")]
    assert any('code="200"' in line and 'route="solve"' in line and 'application="smol"' in line for line in requests)
    assert any('code="401"' in line for line in requests)  # the auth tests ran first
    assert any(line.startswith("ray_distillery_student_thoughts") and 'type="pot"' in line
               for line in text.splitlines())
    assert "ray_serve_actual_batch_size" in text and "ray_serve_deployment_replica_healthy" in text


def _replicas(served) -> int:
    [row] = [r for r in json.loads(cli(served.env, "serve", "ls", "--json").stdout) if r["name"] == "smol"]
    return row["replicas"].get("RUNNING", 0)


class Traffic:
    """Client threads asking the endpoint in a loop until stopped; counts answers, failures, in-flight."""

    def __init__(self, served, clients: int, methods: list[str]) -> None:
        self.client = StudentClient(served.url, served.token)
        self.methods = methods
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = self.in_flight = 0
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                self.in_flight += 1
            try:
                self.client.solve(QUESTION, self.methods, "vote")
                outcome = None
            except (StudentError, OSError) as exc:
                outcome = str(exc)
            with self.lock:
                self.in_flight -= 1
                if outcome is None:
                    self.ok += 1
                else:
                    self.failures.append(outcome)

    def __enter__(self) -> "Traffic":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=300)


def _wait(condition, timeout_s: float, interval_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return False


def test_autoscaling_adds_a_replica_under_load_and_removes_it_after(served):
    assert _replicas(served) == 1
    with Traffic(served, clients=6, methods=["eot", "pot", "cot"]) as traffic:
        assert _wait(lambda: _replicas(served) == 2, timeout_s=180), "no second replica under 18 in-flight thoughts"
        answered_before = traffic.ok
        assert _wait(lambda: traffic.ok > answered_before + 3, timeout_s=120)
    assert traffic.failures == []
    assert _wait(lambda: _replicas(served) == 1, timeout_s=180), "the idle deployment kept its second replica"


def _replica_pids() -> set[int]:
    """Live model replica processes (Ray titles them ``ray::ServeReplica:APP:DEPLOYMENT``)."""
    listing = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return {int(pid) for pid, stat, args in (line.split(None, 2) for line in listing.splitlines() if line.strip())
            if args.startswith("ray::ServeReplica:smol:StudentReplica") and not stat.startswith("Z")}


def test_a_replica_killed_under_traffic_is_replaced_without_failed_requests(served):
    assert _wait(lambda: len(_replica_pids()) == 1, timeout_s=60), _replica_pids()  # a scaled-down one has exited
    before = _replica_pids()
    with Traffic(served, clients=3, methods=["pot"]) as traffic:
        assert _wait(lambda: traffic.ok >= 3, timeout_s=120, interval_s=0.5)
        with traffic.lock:
            in_flight_at_kill = traffic.in_flight
        os.kill(next(iter(before)), signal.SIGKILL)
        assert _wait(lambda: _replica_pids() - before and _replicas(served) == 1, timeout_s=180)
        answered_after_replacement = traffic.ok
        assert _wait(lambda: traffic.ok >= answered_after_replacement + 3, timeout_s=120)
    # The requests the dead replica held are asked again of the new one: none fails.
    assert len(traffic.failures) <= in_flight_at_kill
    assert traffic.failures == [], traffic.failures


# --- the vLLM backend: the async engine, continuous batching, streaming --------------------------


@pytest.fixture(scope="module")
def vllm_served(served):
    """The same student behind vLLM's async engine (no CPU reserved: the stack's go to "smol")."""
    deployed = json.loads(cli(served.env, "serve", "smol-student", "--name", "smol-vllm", "--backend", "vllm",
                              "--max-new-tokens", str(MAX_NEW_TOKENS), "--num-cpus", "0", "--json").stdout)
    yield deployed["url"]
    cli(served.env, "serve", "rm", "smol-vllm", ok=False)


def _sse(url: str, token: str, body: dict, timeout: float = 300):
    """The JSON payloads of a streamed reply, as they arrive, up to ``data: [DONE]``."""
    request = urllib.request.Request(url, data=json.dumps({**body, "stream": True}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for raw in response:
            line = raw.decode().strip()
            if not line:
                continue
            assert line.startswith("data: "), line
            if line == "data: [DONE]":
                return
            yield json.loads(line[len("data: "):])
    raise AssertionError("the stream ended without data: [DONE]")


def _engine_gauge(served, name: str, application: str) -> float | None:
    text = urllib.request.urlopen(served.metrics_url, timeout=30).read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(f"ray_distillery_student_engine_{name}{{") and f'application="{application}"' in line]
    return max(values) if values else None


def test_vllm_requests_join_the_engines_running_batch(served, vllm_served):
    """Continuous batching, seen by the engine's own scheduler: while one long request is being
    generated (its first tokens streamed back), seven more arrive and run beside it -- eight
    requests in the engine's running batch at once, none waiting for the first to end."""
    count = {"prompt": "Count: 1, 2, 3, 4, 5, 6,", "max_tokens": 160, "temperature": 0}
    first = _sse(f"{vllm_served}/v1/completions", served.token, count)
    assert next(first)["choices"][0]["text"]  # generating now
    replies: list = []
    others = [threading.Thread(target=lambda: replies.append(http(
        f"{vllm_served}/v1/completions", served.token, {**count, "max_tokens": 48}))) for _ in range(7)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(timeout=300)
    rest = list(first)
    assert rest[-1]["choices"][0]["finish_reason"] == "length"  # the long one was still running throughout
    assert [status for status, *_ in replies] == [200] * 7
    assert _wait(lambda: (_engine_gauge(served, "peak_running_requests", "smol-vllm") or 0) >= 8, timeout_s=90), \
        _engine_gauge(served, "peak_running_requests", "smol-vllm")
    assert _engine_gauge(served, "kv_cache_usage", "smol-vllm") is not None
    assert _engine_gauge(served, "waiting_requests", "smol-vllm") is not None


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process this user can read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):  # ended meanwhile
                continue
            found[int(entry.name)] = (parent, cmdline)
    return found


def test_the_served_engine_runs_at_normal_priority_not_rays_worker_niceness(served, vllm_served):
    """Ray starts workers at nice 15: the engine (the replica, vLLM's engine core and its model
    worker) would yield the CPU to every other process of the machine. The stack's Ray head runs
    them at nice 0."""
    processes = _processes()
    replicas = [pid for pid, (_, cmd) in processes.items() if cmd.startswith("ray::ServeReplica:smol-vllm:StudentReplica")]
    assert replicas, "no model replica process for smol-vllm"
    engine = set(replicas)
    while True:  # the replica's descendants: vLLM's engine core and its worker
        more = {pid for pid, (parent, _) in processes.items() if parent in engine} - engine
        if not more:
            break
        engine |= more
    assert any("VLLM::Worker" in processes[pid][1] for pid in engine), [processes[p][1][:60] for p in engine]
    assert {pid: os.getpriority(os.PRIO_PROCESS, pid) for pid in engine} == {pid: 0 for pid in engine}


@pytest.mark.parametrize("backend", ["vllm", "hf"])
def test_a_streamed_completion_equals_the_unstreamed_one(served, vllm_served, backend):
    url = vllm_served if backend == "vllm" else served.url
    body = {"prompt": ["Count: 1, 2, 3,", "The capital of France is"], "max_tokens": 24, "temperature": 0,
            "stop": ["\n\n"], "stream_options": {"include_usage": True}}
    status, whole, _ = http(f"{url}/v1/completions", served.token, body)
    assert status == 200
    chunks = list(_sse(f"{url}/v1/completions", served.token, body))
    *deltas, usage = chunks
    for i, choice in enumerate(whole["choices"]):
        mine = [c["choices"][0] for c in deltas if c["choices"][0]["index"] == i]
        assert "".join(c["text"] for c in mine) == choice["text"] and choice["text"]
        assert mine[-1]["finish_reason"] == choice["finish_reason"]
        if backend == "vllm":
            assert len(mine) > 1  # text as it is generated, not one piece at the end
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]} and chunks[0]["object"] == "text_completion"
    chat = {"messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 16, "temperature": 0}
    status, whole, _ = http(f"{url}/v1/chat/completions", served.token, chat)
    streamed = list(_sse(f"{url}/v1/chat/completions", served.token, chat))
    assert status == 200 and streamed[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"]["content"] for c in streamed) == whole["choices"][0]["message"]["content"]
    # Refusals come before any event, as a plain JSON error.
    too_long = " ".join(str(i) for i in range(3000))  # > 4096 tokens: the replica's context
    status, reply, _ = http(f"{url}/v1/completions", served.token, {"prompt": too_long, "stream": True})
    assert status == 400 and "exceed the context" in reply["error"]["message"]
    assert http(f"{url}/v1/completions", None, {"prompt": "x", "stream": True})[0] == 401


def test_vllm_solve_executes_every_thought_through_the_verifier(served, vllm_served, verifier):
    reply = StudentClient(vllm_served, served.token).solve(QUESTION, ["eot", "pot", "cot"], "vote", samples=1,
                                                           temperature=1.0)
    assert [(t["type"], t["sample"]) for t in reply["thoughts"]] == [
        ("eot", -1), ("pot", -1), ("cot", -1), ("eot", 0), ("pot", 0), ("cot", 0)]
    assert all(t["text"] for t in reply["thoughts"]) and reply["model"] == served.model
    verdicts = verifier.verify_many([ThoughtRecord(id=i, thought_type=t["type"], text=t["text"])
                                     for i, t in enumerate(reply["thoughts"])])
    assert [(t["status"], t["answer"]) for t in reply["thoughts"]] == [(v.status.value, v.answer) for v in verdicts]
    with StudentGrpcClient(served.grpc_address, "smol-vllm", served.token) as client:
        grpc_reply = client.solve(QUESTION, ["pot"], "single")
    assert grpc_reply.thoughts[0].text == reply["thoughts"][1]["text"]  # greedy: the same thought
