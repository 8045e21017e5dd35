"""Where everything lives in the bucket. One function per kind of object.

    {team}/{name}/versions/{version:010d}.json       manifest -- written last: the commit point
    {team}/{name}/tags/{tag}.json                    {"version": N}
    {team}/{name}/deleted/{version:010d}.json        soft-delete marker
    {team}/{name}/blobs/{upload_id}/shard-00000.jsonl.gz
    {team}/{name}/blobs/{upload_id}/files/{path}
    _auth/teams/{team}.json, _auth/tokens/{sha256(token)}.json
    _jobs/...                                        the jobs controller's state (jobs/store.py)

The top level is one prefix per team, and every other prefix starts with ``_``, which no team name
can (names.TEAM_RE): no team can ever own, list or sweep keys of another kind of state, and other
state can never land inside a team's namespace. Keep it that way when adding state to the bucket.
"""

from __future__ import annotations

SYSTEM_PREFIX = "_"
AUTH_PREFIX = "_auth/"


def versions_prefix(team: str, name: str) -> str:
    return f"{team}/{name}/versions/"


def manifest_key(team: str, name: str, version: int) -> str:
    return f"{team}/{name}/versions/{version:010d}.json"


def version_from_manifest_key(key: str) -> int:
    return int(key.rsplit("/", 1)[1].removesuffix(".json"))


def tags_prefix(team: str, name: str) -> str:
    return f"{team}/{name}/tags/"


def tag_key(team: str, name: str, tag: str) -> str:
    return f"{team}/{name}/tags/{tag}.json"


def deleted_prefix(team: str, name: str) -> str:
    return f"{team}/{name}/deleted/"


def deleted_key(team: str, name: str, version: int) -> str:
    return f"{team}/{name}/deleted/{version:010d}.json"


def blobs_prefix(team: str, name: str) -> str:
    return f"{team}/{name}/blobs/"


def upload_prefix(team: str, name: str, upload_id: str) -> str:
    return f"{team}/{name}/blobs/{upload_id}/"


def shard_key(team: str, name: str, upload_id: str, index: int) -> str:
    return f"{team}/{name}/blobs/{upload_id}/shard-{index:05d}.jsonl.gz"


def file_key(team: str, name: str, upload_id: str, path: str) -> str:
    return f"{team}/{name}/blobs/{upload_id}/files/{path}"


def upload_id_of(key: str) -> str:
    return key.split("/blobs/", 1)[1].split("/", 1)[0]


def team_key(team: str) -> str:
    return f"{AUTH_PREFIX}teams/{team}.json"


def token_key(token_hash: str) -> str:
    return f"{AUTH_PREFIX}tokens/{token_hash}.json"
