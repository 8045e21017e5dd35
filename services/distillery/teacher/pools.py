"""Where HTTP teachers run: the operator's named pools, and (only if allowed) teams' own endpoints.

Teams share the teacher service, so a job must never choose a URL that receives the platform's
key, nor make the service call into the cluster for it (SSRF). The operator lists **pools** in
the service's config (``distillery teacher serve --config FILE``, the chart's ``teacher.pools``):
each a name, a base URL, the models it serves and where its key is (an env var or a file, read
on every request so a rotated Secret takes effect; never echoed). Jobs pick a pool by name; a
pool may be given to some teams only (``teams``), and no other team is shown it
(``ListPools``, ``distillery teacher pools``: :meth:`TeacherServiceConfig.pools_for`).

A team may bring its **own endpoint** only if ``team_endpoints.enabled`` and the host passes
``allowed_hosts``; it is sent the key the team supplied with the job, or none -- never a pool's.
Without an allow-list, hosts that resolve to loopback, private, link-local (cloud metadata) or
other non-public addresses are refused; the check is repeated on the connected socket, so DNS
rebinding does not get around it (see :mod:`distillery.teacher.backends.openai_http`).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from distillery.core.errors import field_errors
from distillery.teacher.config import POOL_NAME, TeacherJobConfig, available_pools, check_endpoint_url
from distillery.teacher.errors import EndpointRefused, UnknownPool


class HttpLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(8, ge=1, le=256, description="Requests in flight per job.")
    requests_per_second: float = Field(0.0, ge=0, description="Shared by every job on this pool; 0: no limit.")
    max_retries: int = Field(5, ge=0, le=20, description="On 408/409/429/5xx and connection errors.")
    timeout_s: float = Field(300.0, gt=0, le=3600)
    max_response_bytes: int = Field(16 << 20, ge=1024, description="A longer reply is an error, not memory.")


class TeacherPool(HttpLimits):
    name: str = Field(pattern=f"^{POOL_NAME}$", description="What jobs pass as `pool`.")
    base_url: str = Field(description="OpenAI-compatible base URL, e.g. http://teacher-pool:8000/v1.")
    models: tuple[str, ...] = Field(min_length=1,
                                    description="Served model names; a job's `model` defaults to the first.")
    api_key_env: str | None = Field(None, description="Environment variable holding the pool's key.")
    api_key_file: Path | None = Field(None, description="File holding the pool's key (a mounted Secret).")
    teams: tuple[str, ...] = Field((), description="Teams that may use the pool; empty: every team.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_endpoint_url(url)

    @model_validator(mode="after")
    def _one_key_source(self) -> "TeacherPool":
        if self.api_key_env and self.api_key_file:
            raise ValueError("give `api_key_env` or `api_key_file`, not both")
        return self

    def open_to(self, team: str) -> bool:
        """Whether ``team`` may use the pool."""
        return not self.teams or team in self.teams

    def api_key(self) -> str | None:
        """Read at each request: a rotated Secret applies without a restart."""
        if self.api_key_file:
            try:
                return self.api_key_file.read_text().strip() or None
            except OSError:
                # The path is the operator's, not a secret, but the reason stays in the server's log.
                raise RuntimeError(f"pool {self.name!r}: its key file is not readable") from None
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None


class TeamEndpoints(HttpLimits):
    enabled: bool = Field(False, description="Let jobs name their own `endpoint` (sent the team's key only).")
    allowed_hosts: tuple[str, ...] = Field(
        (), description="Host names or suffixes (`.example.com`) teams may use; empty: any host on a public "
                        "address. A listed host may resolve to a private address (the operator said so).")
    teams: tuple[str, ...] = Field((), description="Teams that may bring endpoints; empty: every team.")
    max_retries: int = Field(2, ge=0, le=20)
    timeout_s: float = Field(120.0, gt=0, le=3600)

    def open_to(self, team: str) -> bool:
        """Whether ``team`` may name its own endpoint."""
        return self.enabled and (not self.teams or team in self.teams)


class TeacherServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pools: tuple[TeacherPool, ...] = Field((), description="Named OpenAI-compatible endpoints jobs may use.")
    team_endpoints: TeamEndpoints = Field(default_factory=TeamEndpoints)

    @field_validator("pools")
    @classmethod
    def _distinct(cls, pools: tuple[TeacherPool, ...]) -> tuple[TeacherPool, ...]:
        names = [p.name for p in pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pool names repeat: {sorted({n for n in names if names.count(n) > 1})}")
        return pools

    def pool(self, name: str, team: Callable[[], str] | None = None) -> TeacherPool:
        """The pool ``name``; an unknown name lists the pools the caller (``team()``) may use."""
        for pool in self.pools:
            if pool.name == name:
                return pool
        # team() (a registry call) only when a pool is given to some teams
        usable = [p for p in self.pools if not p.teams or (team is not None and p.open_to(team()))]
        raise UnknownPool(f"pool: no teacher pool {name!r}; available: {available_pools(p.name for p in usable)}")

    def pools_for(self, team: str) -> list[TeacherPool]:
        """The pools ``team`` may use, in the operator's order: never one given to other teams only."""
        return [pool for pool in self.pools if pool.open_to(team)]


def load_service_config(path: Path | None) -> TeacherServiceConfig:
    """The config file (YAML or JSON); no file: no pools, no team endpoints."""
    if path is None:
        return TeacherServiceConfig()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"teacher config {path}: {exc}") from None
    try:
        return TeacherServiceConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"teacher config {path}: {field_errors(exc.errors(), whole='config')}") from None


# ---------------------------------------------------------------- team endpoints: host policy

def public_address(address: str) -> bool:
    """True for an address on the public internet (what an unlisted team endpoint may be)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_listed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for entry in (a.lower().rstrip(".") for a in allowed):
        if host == entry or (entry.startswith(".") and host.endswith(entry)):
            return True
    return False


class AddressPolicy:
    """Which peer addresses a team endpoint may connect to; checked on the connected socket."""

    def __init__(self, host: str, allowed_hosts: tuple[str, ...]) -> None:
        self.host = host
        self.listed = host_listed(host, allowed_hosts)

    def check(self, address: str) -> None:
        if not self.listed and not public_address(address):
            raise EndpointRefused(f"endpoint: {self.host} is not on a public address "
                                  "(internal addresses are refused unless the operator lists the host)")


def check_team_endpoint(url: str, policy: TeamEndpoints,
                        resolve: Callable[[str], list[str]] | None = None) -> AddressPolicy:
    """Refuse a team endpoint the operator does not allow; returns the per-connection check."""
    if not policy.enabled:
        raise EndpointRefused("endpoint: this teacher does not accept team endpoints; use `pool`")
    host = urlsplit(url).hostname or ""
    if policy.allowed_hosts and not host_listed(host, policy.allowed_hosts):
        raise EndpointRefused(f"endpoint: host {host!r} is not allowed; allowed: {', '.join(policy.allowed_hosts)}")
    address_policy = AddressPolicy(host, policy.allowed_hosts)
    # Early, readable refusal; the binding check is the one on the connected socket.
    for address in (resolve or _resolve)(host):
        address_policy.check(address)
    return address_policy


def _resolve(host: str) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})
    except OSError:
        raise EndpointRefused(f"endpoint: cannot resolve host {host!r}") from None


# ---------------------------------------------------------------- a job's HTTP backend

def http_backend(job: TeacherJobConfig, service: TeacherServiceConfig, team: Callable[[], str],
                 team_key: str | None, pool_backends: dict):
    """The OpenAI-compatible backend for ``job``: its pool's (shared, for the rate limit) or the
    team's own endpoint with the team's key. ``team()`` names the caller, asked only when a
    teams list must be checked."""
    from distillery.teacher.backends.openai_http import OpenAIBackend

    team = functools.cache(team)  # one registry call per request at most
    if job.pool:
        pool = service.pool(job.pool, team)
        if pool.teams and team() not in pool.teams:
            raise EndpointRefused(f"pool: your team may not use pool {pool.name!r}")
        if job.model and job.model not in pool.models:
            raise UnknownPool(f"model: pool {pool.name!r} serves {', '.join(pool.models)}, not {job.model!r}")
        if team_key:
            raise UnknownPool("endpoint_api_key: only with `endpoint`; a pool uses the operator's key")
        backend = pool_backends.get(pool.name)
        if backend is None:  # setdefault: two first jobs at once still share one backend
            backend = pool_backends.setdefault(pool.name, OpenAIBackend(
                pool.base_url, pool.models[0], api_key=pool.api_key, label=f"pool {pool.name!r}",
                **_limits(pool)))
        return backend.for_model(job.model or pool.models[0])
    policy = service.team_endpoints
    if policy.enabled and policy.teams and team() not in policy.teams:
        raise EndpointRefused("endpoint: your team may not bring its own endpoint; use `pool`")
    address_policy = check_team_endpoint(job.endpoint, policy)
    return OpenAIBackend(job.endpoint, job.model, api_key=lambda: team_key or None, label="endpoint",
                         address_check=address_policy.check, **_limits(policy))


def _limits(limits: HttpLimits) -> dict:
    return {name: getattr(limits, name) for name in HttpLimits.model_fields}


def describe(service: TeacherServiceConfig) -> str:
    """One log line on what the service allows (no keys, no key paths)."""
    return json.dumps({"pools": {p.name: {"url": p.base_url, "models": list(p.models), "teams": list(p.teams)}
                                 for p in service.pools},
                       "team_endpoints": service.team_endpoints.enabled})
