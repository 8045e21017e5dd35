"""Pure pieces: references, line splitting, shard sealing and verification."""

import gzip
import json

import pytest

from distillery.registry.errors import DataLoss, InvalidArgument
from distillery.registry.names import Ref, parse_ref
from distillery.registry.shards import RowStats, ShardBuilder, joined, line_aligned_chunks, open_shard, split_lines


@pytest.mark.parametrize("text, expected", [
    ("gsm8k", Ref("me", "gsm8k")),
    ("gsm8k@3", Ref("me", "gsm8k", version=3)),
    ("other/gsm8k@gold", Ref("other", "gsm8k", tag="gold")),
    ("etd-v2.1@sha256:abcdef12", Ref("me", "etd-v2.1", content_hash="abcdef12")),
])
def test_parse_ref(text, expected):
    assert parse_ref(text, "me") == expected


@pytest.mark.parametrize("text, fragment", [
    ("Upper", "name"), ("a@0", "start at 1"), ("a@sha256:xyz", "hex"), ("a@1x", "tag"), ("", "name"),
    ("Bad_Team/x", "team"),
])
def test_bad_refs_name_the_problem(text, fragment):
    with pytest.raises(InvalidArgument, match=fragment):
        parse_ref(text, "me")


def test_ref_needs_a_team_without_a_default():
    with pytest.raises(InvalidArgument, match="TEAM/"):
        parse_ref("x", None)


def test_split_lines_across_chunk_boundaries():
    data = b'{"a": 1}\n{"b": 2}\n{"c": 3}'
    for size in (1, 2, 5, 100):
        batches = list(split_lines(data[i:i + size] for i in range(0, len(data), size)))
        assert [line for batch in batches for line in batch] == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


def test_shards_seal_verify_and_detect_tampering():
    builder = ShardBuilder(target_bytes=80)
    lines = [json.dumps({"i": i}).encode() for i in range(20)]
    builder.add(joined(lines[:10]), 10)
    assert builder.full
    sealed = builder.seal()
    assert gzip.decompress(sealed.data) == b"".join(l + b"\n" for l in lines[:10])
    assert open_shard(sealed.data, sealed.sha256, 10, "shard 0") == b"".join(l + b"\n" for l in lines[:10])
    with pytest.raises(DataLoss, match="shard 0 is corrupt"):
        open_shard(sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]), sealed.sha256, 10, "shard 0")
    with pytest.raises(DataLoss, match="holds 10 rows"):
        open_shard(sealed.data, sealed.sha256, 11, "shard 0")
    assert builder.rows == 0  # reset after sealing


def test_line_aligned_chunks_never_split_rows():
    payload = b"".join(b"x" * n + b"\n" for n in (3, 10, 1, 25, 4))
    chunks = list(line_aligned_chunks(payload, 12))
    assert b"".join(chunks) == payload
    assert all(c.endswith(b"\n") for c in chunks)
    assert b"x" * 25 + b"\n" in chunks  # a row longer than the chunk size goes whole


def test_row_stats_validate_and_count():
    stats = RowStats("problems")
    first = [b'{"id": 1, "question": "q", "answer": 2.5, "thought_type": "eot", "status": "ok"}']
    stats.add(first, joined(first))
    assert stats.rows == 1 and stats.by_thought_type == {"eot": 1} and stats.by_status == {"ok": 1}
    with pytest.raises(InvalidArgument, match="row 3: answer must be a finite number"):
        batch = [b'{"id": 2, "question": "q", "answer": 7}', b'{"id": 3, "question": "q", "answer": "7"}']
        stats.add(batch, joined(batch))
    with pytest.raises(InvalidArgument, match="row 2: expected a JSON object"):
        RowStats("dataset", rows=1).add([b"[1, 2]"], b"[1, 2]\n")
    with pytest.raises(InvalidArgument, match="row 1: not valid JSON"):
        RowStats("dataset").add([b"{oops"], b"{oops\n")
