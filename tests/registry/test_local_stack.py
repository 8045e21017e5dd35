"""`distillery up` / the registry CLI / `distillery down`, as a user runs them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distillery.cli.exit_codes import ExitCode
from tests.conftest import listening_beyond_loopback, scrape_metrics
from tests.published_schemas import validate_output

CLI = Path(sys.executable).parent / "distillery"


@pytest.fixture(scope="module")
def home(tmp_path_factory, shared_data):
    home = tmp_path_factory.mktemp("distillery-home")
    env = {**os.environ, "DISTILLERY_HOME": str(home), "DISTILLERY_SHARED_DATA": str(shared_data)}
    env.pop("DISTILLERY_TOKEN", None)
    env.pop("DISTILLERY_REGISTRY", None)
    yield home, env
    subprocess.run([str(CLI), "down"], env=env, capture_output=True, timeout=120)


def run(env, *args, ok: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    result = subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert result.returncode == 0, f"{args}: {result.stderr}"
    return result


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_stack_lifecycle_and_registry_cli(home, tmp_path):
    home_dir, env = home
    up = json.loads(run(env, "up", "--json").stdout)
    services = ("registry", "verifier", "teacher", "trainer", "jobs")
    assert up["running"] and set(up["endpoints"]) == {"s3", *services, *(f"{s}_metrics" for s in services), "ray",
                                                       "ray_dashboard", "metrics", "serve", "serve_grpc"}
    assert all(a.startswith(("127.0.0.1:", "http://127.0.0.1:")) for a in up["endpoints"].values())
    assert oct((home_dir / "token").stat().st_mode & 0o777) == "0o600"
    assert oct((home_dir / "ray.token").stat().st_mode & 0o777) == "0o600"  # Ray's token auth is on
    # Ray's files (sessions, logs, sockets) sit beneath a directory only this user can enter.
    from distillery.stack.local import ray_temp_dir
    assert oct(ray_temp_dir(home_dir).stat().st_mode & 0o777) == "0o700"
    version_url = up["endpoints"]["ray_dashboard"] + "/api/version"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(version_url, timeout=30)
    assert anonymous.value.code == 401
    ray_token = (home_dir / "ray.token").read_text().strip()
    authorized = urllib.request.Request(version_url, headers={"Authorization": f"Bearer {ray_token}"})
    assert urllib.request.urlopen(authorized, timeout=30).status == 200
    assert not listening_beyond_loopback(p["pid"] for p in up["processes"].values())
    again = json.loads(run(env, "up", "--json").stdout)
    assert again["processes"] == up["processes"]  # idempotent: the same processes
    assert json.loads(run(env, "status").stdout)["running"] is True

    # push / pull / show / tag / lineage / delete / restore with the default team
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "thought_type": "pot", "text": f"ans = {i}"}) + "\n"
                            for i in range(50)))
    assert run(env, "registry", "push", "thoughts", str(rows), "--meta", "teacher=annotations").stdout == "thoughts@1\n"
    assert run(env, "registry", "push", "verified", str(rows), "--parent", "thoughts@1", "--stage", "verify",
               "--config", '{"abs_tol": 0.001}').stdout == "verified@1\n"
    out = tmp_path / "back.jsonl"
    run(env, "registry", "pull", "verified", "-o", str(out))
    assert out.read_bytes() == rows.read_bytes()
    shown = json.loads(run(env, "registry", "show", "verified@1", "--json").stdout)
    assert shown["lineage"]["parents"] == ["default/thoughts@1"] and shown["rows"] == 50 and shown["version"] == 1
    assert run(env, "registry", "lineage", "verified@1").stdout.splitlines() == [
        "default/verified@1 [verify] <- default/thoughts@1", "default/thoughts@1 <- (root)"]
    assert "verified@gold -> verified@1" in run(env, "registry", "tag", "verified@1", "gold").stdout
    run(env, "registry", "delete", "verified@1")
    failed = run(env, "registry", "pull", "verified@1", "-o", str(tmp_path / "x.jsonl"), ok=False)
    assert failed.returncode == ExitCode.NOT_FOUND and "NOT_FOUND" in failed.stderr
    assert not (tmp_path / "x.jsonl").exists()
    run(env, "registry", "restore", "verified@1")
    listing = json.loads(run(env, "registry", "ls", "--json").stdout)
    assert {m["ref"] for m in listing} == {"default/thoughts@1", "default/verified@1"}

    # teams: the new token is the only thing on stdout, and isolation holds through the CLI
    token = run(env, "team", "create", "research").stdout
    assert token.startswith("dst_") and token.count("\n") == 1
    research = {**env, "DISTILLERY_TOKEN": token.strip()}
    second = run(env, "team", "token", "research").stdout.strip()
    assert second.startswith("dst_") and second != token.strip()
    assert "research/" in run({**env, "DISTILLERY_TOKEN": second}, "registry", "push", "r", str(rows), "--json").stdout
    assert "NOT_FOUND" in run(env, "team", "token", "nobody", ok=False).stderr
    denied = run(research, "registry", "show", "default/verified@1", ok=False)
    assert "PERMISSION_DENIED" in denied.stderr
    bad = run({**env, "DISTILLERY_TOKEN": "dst_nope"}, "registry", "ls", ok=False)
    assert bad.stderr.strip() == "Error: registry: UNAUTHENTICATED: invalid bearer token"

    # the stack's verifier accepts the registry's team tokens
    thoughts = tmp_path / "thoughts.jsonl"
    thoughts.write_text(json.dumps({"id": 1, "thought_type": "pot", "text": "ans = 6 * 7", "gold": 42}) + "\n")
    verified = run(env, "verify", str(thoughts), "-o", str(tmp_path / "v.jsonl"), "--address",
                   up["endpoints"]["verifier"], "--json")
    assert json.loads(verified.stdout)["correct"] == 1

    # every service exports Prometheus metrics; the calls above are there under their codes
    registry_calls = {(labels["grpc_method"], labels["grpc_code"]): value for labels, value in
                      scrape_metrics(up["endpoints"]["registry_metrics"])["grpc_server_handled_total"]}
    # 3 pushes above, and `up`'s import of the five benchmarks into the public namespace
    assert registry_calls[("Push", "OK")] == 3 + 5 and registry_calls[("Show", "PERMISSION_DENIED")] == 1
    assert registry_calls[("List", "UNAUTHENTICATED")] == 1
    verdicts = scrape_metrics(up["endpoints"]["verifier_metrics"])["distillery_verifier_verdicts_total"]
    assert verdicts == [({"thought_type": "pot", "status": "ok"}, 1.0)]
    for service in ("teacher", "trainer", "jobs"):
        assert scrape_metrics(up["endpoints"][f"{service}_metrics"])["process_resident_memory_bytes"][0][1] > 0


def test_import_benchmarks(home):
    _, env = home
    run(env, "up")
    imported = json.loads(run(env, "registry", "import-benchmarks", "--json").stdout)
    validate_output(imported, "imported-benchmarks")
    assert {r["ref"].split("@")[0]: r["rows"] for r in imported} == {
        "gsm8k-train": 7473, "gsm8k-test": 1319, "svamp": 1000, "asdiv": 2084, "multiarith": 600}
    again = json.loads(run(env, "registry", "import-benchmarks", "--only", "svamp", "--json").stdout)
    assert again == [{"ref": "svamp@1", "rows": 1000, "dropped": 0}]  # unchanged data: no new version
    shown = json.loads(run(env, "registry", "show", "asdiv", "--json").stdout)
    assert shown["kind"] == "KIND_PROBLEMS" and shown["meta"]["dropped"] == "221"


def test_benchmarks_are_public_read_only_and_a_teams_own_copy_comes_first(home, tmp_path):
    """`up` imported the benchmarks once into `public`: a team created after it, with no import of
    its own, reads them by their bare names; no team can change them; a team's own copy wins."""
    _, env = home
    newbie = {**env, "DISTILLERY_TOKEN": run(env, "team", "create", "newbie").stdout.strip()}
    shown = json.loads(run(newbie, "registry", "show", "gsm8k-train", "--json").stdout)
    assert shown["ref"] == "public/gsm8k-train@1" and shown["kind"] == "KIND_PROBLEMS" and shown["rows"] == 7473
    assert json.loads(run(newbie, "registry", "show", "public/svamp@1", "--json").stdout)["rows"] == 1000
    rows = tmp_path / "p.jsonl"
    rows.write_text(json.dumps({"id": "q1", "question": "What is 6 * 7?", "answer": 42.0}) + "\n")
    # read-only for every team: tag, delete and restore are refused; a push lands in the team's own namespace
    for verb in (("tag", "public/gsm8k-train@1", "mine"), ("delete", "public/gsm8k-train@1"),
                 ("restore", "public/gsm8k-train@1")):
        refused = run(newbie, "registry", *verb, ok=False)
        assert refused.returncode == ExitCode.DENIED and "PERMISSION_DENIED" in refused.stderr, refused.stderr
    assert "INVALID_ARGUMENT" in run(env, "team", "create", "public", ok=False).stderr  # nobody's token
    pushed = json.loads(run(newbie, "registry", "push", "svamp", str(rows), "--kind", "problems", "--json").stdout)
    assert pushed["ref"] == "newbie/svamp@1"
    assert json.loads(run(newbie, "registry", "show", "svamp", "--json").stdout)["ref"] == "newbie/svamp@1"
    assert json.loads(run(env, "registry", "show", "multiarith", "--json").stdout)["ref"] == "default/multiarith@1"
    # ... and private: the team's own copy is not another team's
    assert json.loads(run(env, "registry", "show", "public/svamp", "--json").stdout)["rows"] == 1000
    assert run(env, "registry", "show", "newbie/svamp@1", ok=False).returncode == ExitCode.DENIED
    # the admin writes there: unchanged data makes no new version
    again = json.loads(run(env, "registry", "import-benchmarks", "--public", "--only", "svamp", "--json").stdout)
    assert again == [{"ref": "public/svamp@1", "rows": 1000, "dropped": 0}]



def test_scripts_get_typed_json_pulls_to_stdout_and_the_token_they_gave(home, tmp_path):
    """What a script relies on: --json of real types that match the published schemas, `pull -o -`
    on stdout, `whoami`, `team ls`, and admin verbs that use the token given -- a team's token is
    refused (DENIED), never swapped for the stack's admin token."""
    _, env = home
    stack = json.loads(run(env, "up", "--json").stdout)
    validate_output(stack, "stack")
    validate_output(json.loads(run(env, "status").stdout), "stack")
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "thought_type": "pot", "text": f"ans = {i}"}) + "\n" for i in range(3)))
    pushed = json.loads(run(env, "registry", "push", "typed", str(rows), "--meta", "k=v", "--config",
                            '{"limit": 50, "seed": 0, "temperature": 0.5}', "--json").stdout)
    validate_output(pushed, "manifest")
    assert pushed["rows"] == 3 and pushed["bytes"] == rows.stat().st_size and isinstance(pushed["version"], int)
    chain = json.loads(run(env, "registry", "lineage", pushed["ref"], "--json").stdout)
    validate_output(chain, "manifests")
    assert chain[0]["lineage"]["config"] == {"limit": 50, "seed": 0, "temperature": 0.5}  # not 50.0, 0.0
    validate_output(json.loads(run(env, "registry", "ls", "--json").stdout), "manifests")

    # pull -o -: the rows on stdout, no file named "-"
    pulled = subprocess.run([str(CLI), "registry", "pull", "typed", "-o", "-"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert pulled.returncode == 0 and pulled.stdout == rows.read_text(), pulled.stderr
    assert not (tmp_path / "-").exists()
    as_json = json.loads(run(env, "registry", "pull", "typed", "-o", str(tmp_path / "o.jsonl"), "--json").stdout)
    validate_output(as_json, "pulled-dataset")
    assert as_json["rows"] == 3
    assert run(env, "registry", "pull", "never-pushed", "-o", "-", ok=False).returncode == ExitCode.NOT_FOUND

    # whoami: the team and token id of the token in use
    mine = json.loads(run(env, "whoami", "--json").stdout)
    validate_output(mine, "whoami")
    current = next(t for t in json.loads(run(env, "team", "token", "list", "--json").stdout) if t["current"])
    assert (mine["team"], mine["token_id"], mine["admin"]) == ("default", current["id"], False)
    assert run(env, "whoami").stdout == f"team default token {current['id']}\n"
    assert run({**env, "DISTILLERY_TOKEN": "dst_nope"}, "whoami", ok=False).returncode == ExitCode.DENIED

    # a second team; its token cannot create teams, however it is given
    scripted = {**env, "DISTILLERY_TOKEN": run(env, "team", "create", "scripted").stdout.strip()}
    assert run(scripted, "whoami").stdout.startswith("team scripted token ")
    for refused in (run(scripted, "team", "create", "sneaky", ok=False),
                    run(env, "team", "create", "sneaky", "--token", scripted["DISTILLERY_TOKEN"], ok=False),
                    run(scripted, "team", "token", "create", "scripted", ok=False)):
        assert refused.returncode == ExitCode.DENIED and "not an admin token" in refused.stderr, refused.stderr

    # team ls: the admin's list of every team; a team token is refused
    teams = json.loads(run(env, "team", "ls", "--json").stdout)
    validate_output(teams, "teams")
    by_name = {t["team"]: t for t in teams}
    assert {"default", "scripted"} <= set(by_name) and "sneaky" not in by_name
    assert by_name["scripted"]["active_tokens"] == 1 and by_name["scripted"]["created_at"]
    listed = run(env, "team", "ls").stdout.splitlines()
    assert listed[0].split() == ["team", "created", "active", "tokens"] and any(
        line.split()[0] == "scripted" for line in listed[1:])
    assert run(scripted, "team", "ls", ok=False).returncode == ExitCode.DENIED


def test_down_stops_only_what_up_started(home):
    home_dir, env = home
    state = json.loads(run(env, "status").stdout)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        assert run(env, "down").stdout.strip() == "stopped"
        assert not any(alive(p["pid"]) for p in state["processes"].values())
        assert bystander.poll() is None
        assert json.loads(run(env, "status").stdout)["running"] is False
        assert run(env, "down").stdout.strip() == "not running"
    finally:
        bystander.kill()
