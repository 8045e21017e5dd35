"""Names, tags and references: ``[TEAM/]NAME[@VERSION|@TAG|@sha256:HEX]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from distillery.registry.errors import InvalidArgument

# Matched with fullmatch() only: with match(), "$" also matches before a trailing newline, so
# "ok-name\n" would pass and become a different object key than the name shown to people.
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
TEAM_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
TAG_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
HASH_RE = re.compile(r"sha256:[0-9a-f]{6,64}")
# Team names that cannot be created: "controller" held the jobs controller's state in the
# registry bucket before it moved under "_jobs/" (see layout.py); an old bucket may still hold it.
RESERVED_TEAMS = frozenset({"controller"})
# The read-only namespace every team reads: the standard problem and evaluation sets, imported
# once by the operator (the admin token writes here). No team can be created under this name.
PUBLIC_TEAM = "public"


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise InvalidArgument(f"name {name!r}: use lowercase letters, digits, '.', '_' or '-' (max 128)")
    return name


def check_team(team: str) -> str:
    if not TEAM_RE.fullmatch(team or ""):
        raise InvalidArgument(f"team {team!r}: use lowercase letters, digits or '-' (max 63)")
    return team


def check_new_team(team: str) -> str:
    """A name a new team may take: valid, and not one the bucket layout has used for other state."""
    if check_team(team) in RESERVED_TEAMS | {PUBLIC_TEAM}:
        raise InvalidArgument(f"team {team!r} is a reserved name; choose another")
    return team


def check_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag or ""):
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


def has_team(text: str) -> bool:
    """Whether a reference names its team (``TEAM/NAME``) rather than leaving it to the caller."""
    return "/" in (text or "").partition("@")[0]


def parse_ref(text: str, default_team: str | None) -> Ref:
    """Parse a reference; ``default_team`` fills in a missing TEAM/."""
    # No strip(): a reference is matched exactly, like every name in it ("x\n" is not "x").
    text = text or ""
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
    if selector.isascii() and selector.isdigit():  # isdigit() alone accepts other scripts' digits
        version = int(selector)
        if version < 1:
            raise InvalidArgument(f"reference {text!r}: versions start at 1")
        return Ref(team, name, version=version)
    if selector.startswith("sha256:"):
        if not HASH_RE.fullmatch(selector):
            raise InvalidArgument(f"reference {text!r}: give at least 6 hex digits after sha256:")
        return Ref(team, name, content_hash=selector.removeprefix("sha256:"))
    return Ref(team, name, tag=check_tag(selector))
