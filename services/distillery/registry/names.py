"""Names, tags and references: ``[TEAM/]NAME[@VERSION|@TAG|@sha256:HEX]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from distillery.registry.errors import InvalidArgument

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
TEAM_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
HASH_RE = re.compile(r"^sha256:[0-9a-f]{6,64}$")


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise InvalidArgument(f"name {name!r}: use lowercase letters, digits, '.', '_' or '-' (max 128)")
    return name


def check_team(team: str) -> str:
    if not TEAM_RE.match(team or ""):
        raise InvalidArgument(f"team {team!r}: use lowercase letters, digits or '-' (max 63)")
    return team


def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag or ""):
        raise InvalidArgument(f"tag {tag!r}: start with a letter; letters, digits, '.', '_' or '-' (max 64)")
    return tag


@dataclass(frozen=True)
class Ref:
    team: str
    name: str
    version: int | None = None
    tag: str | None = None
    content_hash: str | None = None  # a hex prefix

    def __str__(self) -> str:
        return format_ref(self.team, self.name, self.version) if self.version else f"{self.team}/{self.name}"


def format_ref(team: str, name: str, version: int) -> str:
    return f"{team}/{name}@{version}"


def parse_ref(text: str, default_team: str | None) -> Ref:
    """Parse a reference; ``default_team`` fills in a missing TEAM/."""
    text = (text or "").strip()
    base, _, selector = text.partition("@")
    team, slash, name = base.rpartition("/")
    if not slash:
        if not default_team:
            raise InvalidArgument(f"reference {text!r} needs a TEAM/ prefix")
        team = default_team
    check_team(team)
    check_name(name)
    if not selector:
        return Ref(team, name)
    if selector.isdigit():
        version = int(selector)
        if version < 1:
            raise InvalidArgument(f"reference {text!r}: versions start at 1")
        return Ref(team, name, version=version)
    if selector.startswith("sha256:"):
        if not HASH_RE.match(selector):
            raise InvalidArgument(f"reference {text!r}: give at least 6 hex digits after sha256:")
        return Ref(team, name, content_hash=selector.removeprefix("sha256:"))
    return Ref(team, name, tag=check_tag(selector))
