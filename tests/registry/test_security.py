"""Attacks on the registry and its client, against the real registry (real S3 server, real gRPC on
loopback) and two teams: each test does what an attacker did and checks it is refused, nothing
is lost and the registry keeps serving."""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from distillery.registry.client import RegistryClient, header
from distillery.v1 import registry_pb2 as pb
from distillery.v1 import registry_pb2_grpc as pb_grpc
from tests.registry.conftest import ADMIN_TOKEN


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def failure(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details()


# -- 1. a hostile registry cannot make pull_files write outside the target directory --------------

class HostileRegistry(pb_grpc.RegistryServiceServicer):
    """A real gRPC server speaking the registry's protocol, answering what an attacker chooses."""

    def __init__(self) -> None:
        self.manifest_paths: list[str] = []
        self.sent_paths: list[str] = []
        self.data = b"pwned\n"

    def Show(self, request, context):
        digest = hashlib.sha256(self.data).hexdigest()
        return pb.Manifest(team="evil", name="model", version=1, kind=pb.KIND_MODEL, ref="evil/model@1",
                           files=[pb.StoredFile(path=p, key=f"k/{p}", bytes=len(self.data), sha256=digest)
                                  for p in self.manifest_paths])

    def PullFiles(self, request, context):
        for path in self.sent_paths:
            yield pb.FileChunk(path=path, data=self.data)


@pytest.fixture(scope="module")
def hostile():
    servicer = HostileRegistry()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_RegistryServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with RegistryClient(f"127.0.0.1:{port}", "some-team-token") as client:
        yield servicer, client
    server.stop(grace=None)


def _files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.mark.parametrize("case", ["unlisted-dotdot", "listed-dotdot", "absolute", "symlink", "nested-dotdot"])
def test_pull_files_refuses_paths_outside_the_target(hostile, tmp_path, case):
    servicer, client = hostile
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "work" / "model"
    target.mkdir(parents=True)
    absolute = str(outside / "abs")
    paths = {
        # the manifest is honest, the stream is not
        "unlisted-dotdot": (["weights.bin"], ["weights.bin", "../../outside/escape"]),
        # the manifest itself names the escape (same server, same attacker)
        "listed-dotdot": (["../../outside/escape"], ["../../outside/escape"]),
        "absolute": ([absolute], [absolute]),
        "symlink": (["link/escape"], ["link/escape"]),
        "nested-dotdot": (["a/../../../outside/escape"], ["a/../../../outside/escape"]),
    }[case]
    servicer.manifest_paths, servicer.sent_paths = paths
    if case == "symlink":
        (target / "link").symlink_to(outside)
    before = _files_under(outside)

    with pytest.raises(OSError) as raised:
        client.pull_files("evil/model@1", target)

    assert _files_under(outside) == before  # nothing written outside the target
    assert not (tmp_path / "work" / "escape").exists() and not Path(absolute).exists()
    assert "file path" in str(raised.value) and "refusing" in str(raised.value)


def test_pull_files_refuses_a_file_sent_twice_and_a_missing_one(hostile, tmp_path):
    servicer, client = hostile
    servicer.manifest_paths, servicer.sent_paths = ["a.bin", "b.bin"], ["a.bin"]
    with pytest.raises(OSError, match="did not send"):
        client.pull_files("evil/model@1", tmp_path / "m1")
    servicer.manifest_paths, servicer.sent_paths = ["a.bin"], ["a.bin", "c.bin", "a.bin"]
    with pytest.raises(OSError, match="refusing"):
        client.pull_files("evil/model@1", tmp_path / "m2")


def test_pull_files_still_round_trips_a_real_model(alpha, tmp_path):
    checkpoint = tmp_path / "ckpt"
    (checkpoint / "sub").mkdir(parents=True)
    (checkpoint / "config.json").write_text("{}")
    (checkpoint / "sub" / "weights.bin").write_bytes(os.urandom(3000))
    (checkpoint / "empty").write_bytes(b"")
    manifest = alpha.push_files(header("sec-model", "model"), checkpoint)
    written = alpha.pull_files(manifest.ref, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "config.json", "empty", "sub/weights.bin"]
    assert (tmp_path / "out" / "sub" / "weights.bin").read_bytes() == (checkpoint / "sub" / "weights.bin").read_bytes()


# -- 2. no existence oracle on another team's names ------------------------------------------------

def test_another_teams_names_all_get_one_answer(alpha, beta):
    beta.push(header("sec-private"), [jsonl([{"id": 1}])])
    beta.tag("sec-private@1", "gold")
    beta.push(header("sec-public", share=True), [jsonl([{"id": 1}])])
    beta.push(header("sec-public", share=False), [jsonl([{"id": 2}])])  # newest not shared
    refs = ["beta/sec-private", "beta/sec-private@1", "beta/sec-private@gold", "beta/sec-private@sha256:abcdef",
            "beta/sec-missing", "beta/sec-missing@3", "beta/sec-private@9", "beta/sec-public@2",
            "no-such-team/sec-private"]
    answers = set()
    for ref in refs:
        for call in (lambda: alpha.show(ref), lambda: list(alpha.pull(ref)), lambda: alpha.lineage(ref),
                     lambda: alpha.push(header("sec-child", parents=[ref]), [jsonl([{"id": 1}])])):
            code, details = failure(call)
            answers.add((code, details.replace(repr(ref), "REF")))
    assert answers == {(grpc.StatusCode.PERMISSION_DENIED, "team 'alpha' cannot read REF")}
    assert alpha.show("beta/sec-public@1").shared  # what is shared stays readable
    assert beta.show("sec-private").version == 1  # and the owner still reads its own


# -- 3. a deleted shared version is gone for other teams ------------------------------------------

def test_deleted_shared_version_is_not_listed_to_other_teams(alpha, beta):
    beta.push(header("sec-retracted", share=True, meta={"note": "leaked-secret"}), [jsonl([{"id": 1}])])
    beta.push(header("sec-retracted", share=True), [jsonl([{"id": 2}])])
    beta.delete("sec-retracted@1")
    for include_deleted in (False, True):
        seen = [m.ref for m in alpha.list(include_shared=True, include_deleted=include_deleted)]
        assert "beta/sec-retracted@1" not in seen and "beta/sec-retracted@2" in seen
        named = alpha.list(include_shared=True, include_deleted=include_deleted, name="sec-retracted")
        assert [m.ref for m in named] == ["beta/sec-retracted@2"]
    assert failure(lambda: alpha.show("beta/sec-retracted@1"))[0] == grpc.StatusCode.PERMISSION_DENIED
    # the owner still sees it, marked, and can restore it
    own = {m.ref: m for m in beta.list(include_deleted=True, name="sec-retracted")}
    assert own["beta/sec-retracted@1"].deleted_at
    beta.restore("sec-retracted@1")
    assert "beta/sec-retracted@1" in [m.ref for m in alpha.list(include_shared=True, name="sec-retracted")]


# -- 4. names are matched whole ---------------------------------------------------------------------

def test_names_tags_teams_and_refs_are_matched_whole(alpha, admin):
    bad = grpc.StatusCode.INVALID_ARGUMENT
    code, details = failure(lambda: alpha.push(header("ok-name\n"), [jsonl([{"id": 1}])]))
    assert code == bad and "name 'ok-name\\n'" in details
    alpha.push(header("ok-name"), [jsonl([{"id": 1}])])
    code, details = failure(lambda: alpha.tag("ok-name@1", "v1\n"))
    assert code == bad and "tag 'v1\\n'" in details
    code, details = failure(lambda: admin.create_team("gamma\n"))
    assert code == bad and "team 'gamma\\n'" in details
    for ref in ("ok-name\n", "alpha\n/ok-name", "ok-name@1\n", "ok-name@sha256:abcdef\n", "ok-name@١"):
        assert failure(lambda: alpha.show(ref))[0] == bad, ref
    for name in ("ok-name\n", "../ok-name", "ok-name/versions", "x" * 200):
        code, details = failure(lambda: alpha.list(name=name))
        assert code == bad and details.startswith("name "), name
    assert [m.ref for m in alpha.list(name="ok-name")] == ["alpha/ok-name@1"]


# -- 5. the jobs controller's state and team namespaces cannot collide ----------------------------

def test_job_state_and_team_namespaces_do_not_collide(registry_config, registry_server, admin, address):
    from distillery.jobs.store import JobStore
    from distillery.registry.store import ObjectStore

    _, registry = registry_server
    jobs = JobStore(registry_config.s3)  # the controller's state, in the registry's bucket
    code, details = failure(lambda: admin.create_team("controller"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "reserved" in details
    # teams named like the layout's own parts, with jobs and datasets side by side
    teams = ("jobs", "blobs", "versions", "stages", "logs")
    for team in teams:
        token = admin.create_team(team)
        jobs.save_job({"id": f"j-{team}", "team": team, "state": "running"})
        with RegistryClient(address, token) as client:
            client.push(header("jobs"), [jsonl([{"id": 1}])])
            client.push(header("versions", share=True), [jsonl([{"id": 2}])])
    registry.sweep(abandoned_after_s=0)  # the sweep must not take job records for stray uploads
    for team in teams:
        assert jobs.load_job(team, f"j-{team}")["state"] == "running"
        with RegistryClient(address, admin.create_token(team)) as client:
            assert [m.ref for m in client.list(name="jobs")] == [f"{team}/jobs@1"]
            assert len(client.list(include_shared=True, name="versions")) == len(teams)
    assert {j["id"] for j in jobs.all_jobs()} == {f"j-{team}" for team in teams}  # no manifest read as a job
    assert not {m.team for m in admin.list()} & {"_jobs", "controller", "_auth"}

    # state a previous version left under controller/ is still readable after the upgrade
    store = ObjectStore(registry_config.s3)
    legacy = {"id": "j-old", "team": "alpha", "state": "succeeded"}
    store.put("controller/jobs/alpha/j-old.json", json.dumps(legacy).encode())
    store.put("controller/logs/alpha/j-old/teacher.log", b"old log")
    upgraded = JobStore(registry_config.s3)
    assert upgraded.load_job("alpha", "j-old") == legacy and upgraded.log("alpha", "j-old", "teacher") == "old log"
    assert not store.exists("controller/jobs/alpha/j-old.json")  # moved, not copied
    assert not {m.team for m in admin.list()} & {"_jobs", "controller", "_auth"}


# -- 6. tokens can be listed, revoked and rotated -------------------------------------------------

@pytest.fixture(scope="module")
def gamma(admin):
    return admin.create_team("gamma")


def test_a_revoked_token_is_refused_by_the_registry_and_other_services(address, admin, gamma, beta, monkeypatch,
                                                                       registry_config):
    from distillery.core.auth import hash_token
    from distillery.registry import layout
    from distillery.registry.store import ObjectStore
    from distillery.registry.principals import PrincipalCache
    from distillery.verifier.client import VerifierClient
    from distillery.verifier.config import VerifierConfig
    from distillery.verifier.server import create_verifier_server

    leaked = admin.create_token("gamma")
    with RegistryClient(address, gamma) as owner, RegistryClient(address, leaked) as thief:
        listed = owner.list_tokens()
        assert len(listed) == 2 and [t.current for t in listed] == [True, False]
        assert all(t.state == "active" and len(t.id) == 16 for t in listed)
        leaked_id = next(t.id for t in listed if not t.current)
        assert thief.whoami().token_id == leaked_id

        # another team can neither see nor revoke gamma's tokens (and learns nothing from trying)
        assert failure(lambda: beta.list_tokens("gamma"))[0] == grpc.StatusCode.PERMISSION_DENIED
        assert failure(lambda: beta.revoke_token(leaked_id, "gamma"))[0] == grpc.StatusCode.PERMISSION_DENIED
        assert failure(lambda: beta.revoke_token(leaked_id))[0] == grpc.StatusCode.NOT_FOUND  # not beta's

        # another service, trusting tokens the registry knows for at most 1 s
        monkeypatch.setenv("DISTILLERY_TOKEN_CACHE_TTL_S", "1")
        handle, verifier = create_verifier_server("127.0.0.1:0", VerifierConfig(workers=1), PrincipalCache(address))
        try:
            service = f"127.0.0.1:{handle.port}"
            with VerifierClient(service, leaked) as client:
                assert client.info()  # accepted (and now cached)
                revoked = owner.revoke_token(leaked_id[:10])  # a unique prefix names it
                assert revoked.state == "revoked" and revoked.id == leaked_id
                assert failure(thief.whoami)[0] == grpc.StatusCode.UNAUTHENTICATED  # the registry: at once
                assert failure(lambda: thief.rotate_token())[0] == grpc.StatusCode.UNAUTHENTICATED
                time.sleep(1.2)
                code, details = failure(client.info)  # the service: within its cache TTL
                assert code == grpc.StatusCode.UNAUTHENTICATED and "invalid bearer token" in details
            with VerifierClient(service, gamma) as client:
                assert client.info()  # the team's other token still works, and so does the service
        finally:
            handle.stop(grace_s=1)
            verifier.close()
        assert owner.whoami().team == "gamma"
        assert {t.id: t.state for t in owner.list_tokens()}[leaked_id] == "revoked"
        code, details = failure(lambda: owner.revoke_token("zz"))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("id ")
    # The record stays, marked: the chart's bootstrap re-registers tokens whose record is missing.
    record = json.loads(ObjectStore(registry_config.s3).get(layout.token_key(hash_token(leaked))))
    assert record["team"] == "gamma" and record["revoked_at"]


def test_rotation_keeps_the_old_token_for_its_grace_period_only(address, admin):
    first = admin.create_team("delta")
    with RegistryClient(address, first) as old:
        rotated = old.rotate_token(grace_s=1.0)
        assert rotated.team == "delta" and rotated.replaced.state == "expiring" and rotated.issued.state == "active"
        assert old.whoami().expires_at == rotated.replaced.expires_at  # still valid, and says until when
        with RegistryClient(address, rotated.token) as new:
            assert new.whoami().team == "delta"
            assert failure(lambda: new.rotate_token(grace_s=-1))[0] == grpc.StatusCode.INVALID_ARGUMENT
            time.sleep(1.2)
            assert failure(old.whoami)[0] == grpc.StatusCode.UNAUTHENTICATED
            assert new.whoami().team == "delta"
            # the admin rotates a team's token with no grace: the old one stops at once
            again = admin.rotate_token(rotated.issued.id, team="delta", grace_s=0)
            assert failure(new.whoami)[0] == grpc.StatusCode.UNAUTHENTICATED
        with RegistryClient(address, again.token) as newest:
            states = sorted(t.state for t in newest.list_tokens())
            assert states == ["active", "expired", "expired"]
    assert failure(lambda: admin.rotate_token(team="delta"))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert failure(lambda: admin.list_tokens())[0] == grpc.StatusCode.INVALID_ARGUMENT  # admin names a team


def test_token_cli_rotates_and_revokes_with_refs_and_json(address, admin, monkeypatch):
    from distillery.cli.main import cli

    token = admin.create_team("epsilon")
    monkeypatch.setenv("DISTILLERY_REGISTRY", address)
    monkeypatch.setenv("DISTILLERY_ADMIN_TOKEN", ADMIN_TOKEN)
    runner = CliRunner()
    rotated = runner.invoke(cli, ["team", "token", "rotate", "--grace", "60", "--token", token])
    assert rotated.exit_code == 0, rotated.output
    new_token = rotated.stdout.strip()
    assert new_token.startswith("dst_") and "\n" not in new_token  # stdout: the token, nothing else
    listed = runner.invoke(cli, ["team", "token", "list", "--json", "--token", new_token])
    tokens = json.loads(listed.stdout)
    assert sorted(t["state"] for t in tokens) == ["active", "expiring"]
    old_id = next(t["id"] for t in tokens if t["state"] == "expiring")
    revoked = runner.invoke(cli, ["team", "token", "revoke", old_id, "--team", "epsilon"])  # as the admin
    assert revoked.exit_code == 0 and revoked.stdout.strip() == f"epsilon/{old_id}"
    as_json = runner.invoke(cli, ["team", "token", "revoke", old_id[:8], "--json", "--token", new_token])
    assert json.loads(as_json.stdout)["state"] == "revoked"
    with RegistryClient(address, token) as old:
        assert failure(old.whoami)[0] == grpc.StatusCode.UNAUTHENTICATED
    other = runner.invoke(cli, ["team", "token", "revoke", old_id, "--team", "alpha", "--token", new_token,
                                "--admin-token", "not-the-admin"])
    assert other.exit_code != 0 and "UNAUTHENTICATED" in other.output
    # the original spelling still issues a token
    issued = runner.invoke(cli, ["team", "token", "epsilon"])
    assert issued.exit_code == 0 and issued.stdout.strip().startswith("dst_")
