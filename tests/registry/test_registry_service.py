"""RegistryService over real gRPC, backed by a real S3 server process (SeaweedFS)."""

from __future__ import annotations

import json
import threading
import tracemalloc

import grpc
import pytest

from distillery.registry import layout
from distillery.registry.client import RegistryClient, header
from distillery.registry.store import ObjectStore


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def thoughts(n: int, tag: str = "") -> bytes:
    kinds = ("cot", "pot", "eot")
    return jsonl([{"id": f"{tag}{i}", "thought_type": kinds[i % 3], "text": f"ans = {i}" + " pad" * 20,
                   "status": "ok" if i % 4 else "timeout"} for i in range(n)])


def chunked(data: bytes, size: int = 1000) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details()


def test_round_trip_is_byte_exact_across_shards(alpha):
    data = thoughts(3000)
    manifest = alpha.push(header("round-trip", stage="teacher", config={"samples": 4}), chunked(data, 777))
    assert manifest.ref == "alpha/round-trip@1" and manifest.rows == 3000
    assert len(manifest.shards) > 3  # 64 KiB shards in these tests
    assert b"".join(alpha.pull("round-trip")) == data
    assert dict(manifest.counts_by_thought_type) == {"cot": 1000, "pot": 1000, "eot": 1000}
    assert dict(manifest.counts_by_status) == {"ok": 2250, "timeout": 750}
    shown = alpha.show("round-trip@1")
    assert shown.lineage.stage == "teacher" and dict(shown.lineage.config) == {"samples": 4.0}
    assert shown.created_by == "alpha" and shown.schema_version == 1 and shown.lineage.code_version


def test_versions_are_immutable_and_numbered_in_commit_order(alpha):
    first, second = thoughts(5, "a"), thoughts(7, "b")
    assert alpha.push(header("growing"), [first]).version == 1
    assert alpha.push(header("growing"), [second]).version == 2
    assert b"".join(alpha.pull("growing@1")) == first
    assert b"".join(alpha.pull("growing")) == second  # bare name: newest
    again = alpha.push(header("growing"), [first])
    assert again.version == 3 and again.content_sha256 == alpha.show("growing@1").content_sha256
    assert alpha.show(f"growing@sha256:{again.content_sha256[:10]}").version == 3  # newest with that content
    assert code(lambda: alpha.show("growing@sha256:abcdef0"))[0] == grpc.StatusCode.NOT_FOUND


def test_tags_point_at_versions_and_move(alpha):
    alpha.push(header("tagged"), [thoughts(2, "x")])
    alpha.push(header("tagged"), [thoughts(3, "y")])
    alpha.tag("tagged@1", "gold")
    assert alpha.show("tagged@gold").version == 1
    assert list(alpha.show("tagged@1").tags) == ["gold"]
    alpha.tag("tagged@2", "gold")
    assert b"".join(alpha.pull("tagged@gold")) == thoughts(3, "y")
    assert code(lambda: alpha.tag("tagged@1", "123"))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert code(lambda: alpha.show("tagged@silver"))[0] == grpc.StatusCode.NOT_FOUND


def test_lineage_walks_back_to_the_roots(alpha):
    problems = alpha.push(header("lin-problems", "problems"), [jsonl([{"id": 1, "question": "1+1?", "answer": 2}])])
    thoughts_v = alpha.push(header("lin-thoughts", parents=["lin-problems"], stage="teacher"), [thoughts(3)])
    assert list(thoughts_v.lineage.parents) == ["alpha/lin-problems@1"]  # resolved at push time
    verified = alpha.push(header("lin-verified", parents=["lin-thoughts@1", "lin-problems@1"], stage="verify"),
                          [thoughts(2)])
    assert list(verified.lineage.parents) == ["alpha/lin-thoughts@1", "alpha/lin-problems@1"]
    chain = [m.ref for m in alpha.lineage("lin-verified@1")]
    assert chain == ["alpha/lin-verified@1", "alpha/lin-thoughts@1", "alpha/lin-problems@1"]
    assert problems.kind == 2
    status, details = code(lambda: alpha.push(header("orphan", parents=["no-such-dataset"]), [thoughts(1)]))
    assert status == grpc.StatusCode.NOT_FOUND and "no-such-dataset" in details


def test_concurrent_pushes_get_distinct_versions(address, team_tokens):
    payloads = {i: thoughts(200 + i, f"c{i}-") for i in range(6)}
    results: dict[int, int] = {}

    def push(i: int) -> None:
        with RegistryClient(address, team_tokens["alpha"]) as client:
            results[i] = client.push(header("contended"), chunked(payloads[i], 4096)).version

    threads = [threading.Thread(target=push, args=(i,)) for i in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == list(range(1, 7))
    with RegistryClient(address, team_tokens["alpha"]) as client:
        for i, version in results.items():
            assert b"".join(client.pull(f"contended@{version}")) == payloads[i]  # nothing lost or interleaved


def test_corrupted_or_missing_shard_is_data_loss(alpha, registry_config):
    manifest = alpha.push(header("fragile"), [thoughts(2000)])
    store = ObjectStore(registry_config.s3)
    victim = manifest.shards[1].key
    original = store.get(victim)
    store.put(victim, original[:-10] + bytes(10))
    status, details = code(lambda: b"".join(alpha.pull("fragile@1")))
    assert status == grpc.StatusCode.DATA_LOSS and "shard 1 of alpha/fragile@1" in details
    store.delete(victim)
    status, details = code(lambda: b"".join(alpha.pull("fragile@1")))
    assert status == grpc.StatusCode.DATA_LOSS and "missing" in details
    store.put(victim, original)
    assert b"".join(alpha.pull("fragile@1")) == thoughts(2000)


def test_bad_rows_are_rejected_by_number_and_leave_nothing(alpha, registry_config):
    rows = thoughts(5) + b"{not json\n" + thoughts(5)
    status, details = code(lambda: alpha.push(header("broken"), [rows]))
    assert status == grpc.StatusCode.INVALID_ARGUMENT and "row 6" in details
    assert alpha.list(name="broken") == []
    assert list(ObjectStore(registry_config.s3).list(layout.blobs_prefix("alpha", "broken"))) == []
    problems = jsonl([{"id": 1, "question": "q", "answer": 3}, {"id": 2, "question": "q"}])
    status, details = code(lambda: alpha.push(header("bad-problems", "problems"), [problems]))
    assert status == grpc.StatusCode.INVALID_ARGUMENT and "row 2" in details and "answer" in details
    assert code(lambda: alpha.push(header("Bad Name"), [thoughts(1)]))[0] == grpc.StatusCode.INVALID_ARGUMENT
    empty = alpha.push(header("empty"), [b"\n\n"])  # an empty result is still a result
    assert empty.rows == 0 and list(empty.shards) == [] and b"".join(alpha.pull("empty@1")) == b""
    alpha.push(header("kind-fixed"), [thoughts(1)])
    kinded = jsonl([{"id": 1, "question": "q", "answer": 1}])
    assert code(lambda: alpha.push(header("kind-fixed", "problems"), [kinded]))[0] == \
        grpc.StatusCode.FAILED_PRECONDITION


def test_soft_delete_restore_and_retention(alpha, registry_server):
    alpha.push(header("deletable"), [thoughts(1, "v1")])
    alpha.push(header("deletable"), [thoughts(1, "v2")])
    alpha.delete("deletable@2")
    assert alpha.show("deletable").version == 1
    status, details = code(lambda: alpha.show("deletable@2"))
    assert status == grpc.StatusCode.NOT_FOUND and "restore" in details
    assert [m.version for m in alpha.list(name="deletable")] == [1]
    assert [m.version for m in alpha.list(name="deletable", include_deleted=True)] == [1, 2]
    alpha.restore("deletable@2")
    assert alpha.show("deletable").version == 2
    # Past retention, the sweep purges a deleted version for good.
    _, registry = registry_server
    alpha.delete("deletable@1")
    retention = registry.config.retention_days
    registry.config.retention_days = 0
    try:
        assert registry.sweep()["purged_versions"] == 1
    finally:
        registry.config.retention_days = retention
    assert [m.version for m in alpha.list(name="deletable", include_deleted=True)] == [2]


def test_team_isolation(alpha, beta, address):
    alpha.push(header("private"), [thoughts(1)])
    alpha.push(header("public", share=True), [thoughts(2)])
    assert code(lambda: beta.show("alpha/private"))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert code(lambda: b"".join(beta.pull("alpha/private@1")))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert code(lambda: beta.show("alpha/does-not-exist"))[0] == grpc.StatusCode.PERMISSION_DENIED  # no probing
    assert b"".join(beta.pull("alpha/public")) == thoughts(2)
    assert code(lambda: beta.tag("alpha/public@1", "mine"))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert code(lambda: beta.delete("alpha/public@1"))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert code(lambda: beta.create_team("gamma"))[0] == grpc.StatusCode.PERMISSION_DENIED
    beta.push(header("derived", parents=["alpha/public"]), [thoughts(1)])  # shared data can be built on
    assert all(m.team == "beta" for m in beta.list())
    assert {"alpha/public@1"} <= {m.ref for m in beta.list(include_shared=True)}
    assert "alpha/private@1" not in {m.ref for m in beta.list(include_shared=True)}
    for token in (None, "dst_forged"):
        with RegistryClient(address, token) as stranger:
            assert code(stranger.list)[0] == grpc.StatusCode.UNAUTHENTICATED


def test_admin_manages_teams_and_sees_everything(admin, address):
    token = admin.create_team("gamma")
    assert code(lambda: admin.create_team("gamma"))[0] == grpc.StatusCode.ALREADY_EXISTS
    with RegistryClient(address, token) as gamma:
        assert gamma.whoami().team == "gamma"
        gamma.push(header("g"), [thoughts(1)])
    second = admin.create_token("gamma")
    with RegistryClient(address, second) as gamma:
        assert gamma.show("g").ref == "gamma/g@1"
    assert "gamma/g@1" in {m.ref for m in admin.list()}
    # the admin owns no team: what it pushes goes to the read-only public namespace every team reads
    assert admin.push(header("x"), [thoughts(1)]).ref == "public/x@1"
    with RegistryClient(address, second) as gamma:
        assert gamma.show("x").ref == "public/x@1"
        assert code(lambda: gamma.tag("public/x@1", "mine"))[0] == grpc.StatusCode.PERMISSION_DENIED
        assert code(lambda: gamma.delete("public/x@1"))[0] == grpc.StatusCode.PERMISSION_DENIED
        assert gamma.push(header("x"), [thoughts(2)]).ref == "gamma/x@1"
        assert gamma.show("x").ref == "gamma/x@1"  # the team's own copy comes first
    assert code(lambda: admin.create_team("public"))[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_model_files_round_trip_with_lineage(alpha, tmp_path):
    checkpoint = tmp_path / "ckpt"
    (checkpoint / "sub").mkdir(parents=True)
    (checkpoint / "config.json").write_text('{"layers": 2}')
    (checkpoint / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 9000)
    (checkpoint / "empty.txt").write_bytes(b"")
    alpha.push(header("train-set"), [thoughts(3)])
    manifest = alpha.push_files(header("student", "model", parents=["train-set@1"], stage="train",
                                       config={"lr": 0.0001}), checkpoint)
    assert manifest.kind == 3 and len(manifest.files) == 3 and list(manifest.lineage.parents) == ["alpha/train-set@1"]
    written = alpha.pull_files("student@1", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == \
        ["config.json", "empty.txt", "sub/weights.bin"]
    for path in ("config.json", "empty.txt", "sub/weights.bin"):
        assert (tmp_path / "out" / path).read_bytes() == (checkpoint / path).read_bytes()
    assert code(lambda: b"".join(alpha.pull("student@1")))[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_large_dataset_streams_in_bounded_memory(alpha):
    total_rows = 200_000

    def rows():
        for start in range(0, total_rows, 5000):
            yield jsonl([{"id": i, "thought_type": "pot", "text": f"ans = {i} * 2", "gold": 2 * i}
                         for i in range(start, start + 5000)])

    tracemalloc.start()
    try:
        manifest = alpha.push(header("big"), rows())
        pushed_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        count = size = 0
        for chunk in alpha.pull("big@1"):
            count += chunk.count(b"\n")
            size += len(chunk)
        pulled_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert manifest.rows == total_rows and count == total_rows and size == manifest.bytes
    # Client and server share this process: the whole dataset (~14 MB) never sits in memory.
    assert manifest.bytes > 12_000_000
    assert pushed_peak < manifest.bytes / 2 and pulled_peak < manifest.bytes / 2, (pushed_peak, pulled_peak)
