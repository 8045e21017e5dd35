"""The ``distillery`` command line's exit codes: one table, so a script can branch on them.

Every verb exits with one of these. A job-shaped result (``jobs get``, ``jobs watch``,
``train``, ``trainer status`` ...) exits with its job's state; a refused call exits with
what the refusal means for the caller: fix the input, fix the permission, or try again later.
The README's "Automating Distillery" section prints this table.
"""

from __future__ import annotations

import enum

import click
import grpc


class ExitCode(enum.IntEnum):
    OK = 0  # done: the command, or the job it reports, succeeded
    FAILED = 1  # the job (or the work the command did) ran and failed
    USAGE = 2  # bad flags or arguments (click's own code)
    INVALID = 3  # refused: the input can never succeed as it is (bad spec, bad reference, bad rows)
    NOT_FOUND = 4  # the job, dataset, model or deployment does not exist (for this team)
    DENIED = 5  # no token, a wrong token, or not this team's to touch
    QUOTA = 6  # refused for now: a team quota or rate limit; retry later
    UNAVAILABLE = 7  # the stack or a service is down or timed out; retry later
    CANCELLED = 8  # the job was cancelled (by Ctrl-C or `cancel`)
    NOT_FINISHED = 9  # the job is still queued or running (`get` / `status` only)
    INTERRUPTED = 130  # Ctrl-C on a command that only watches: the work goes on (128 + SIGINT)


_BY_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: ExitCode.INVALID,
    grpc.StatusCode.FAILED_PRECONDITION: ExitCode.INVALID,
    grpc.StatusCode.OUT_OF_RANGE: ExitCode.INVALID,
    grpc.StatusCode.ALREADY_EXISTS: ExitCode.INVALID,
    grpc.StatusCode.NOT_FOUND: ExitCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED: ExitCode.DENIED,
    grpc.StatusCode.PERMISSION_DENIED: ExitCode.DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ExitCode.QUOTA,
    grpc.StatusCode.UNAVAILABLE: ExitCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ExitCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED: ExitCode.CANCELLED,
}

_BY_JOB_STATE = {
    "succeeded": ExitCode.OK,
    "failed": ExitCode.FAILED,
    "cancelled": ExitCode.CANCELLED,
    "queued": ExitCode.NOT_FINISHED,
    "pending": ExitCode.NOT_FINISHED,
    "running": ExitCode.NOT_FINISHED,
}


def for_status(code: grpc.StatusCode) -> ExitCode:
    """What a refused or failed gRPC call means for the caller's script."""
    return _BY_STATUS.get(code, ExitCode.FAILED)


def for_http_status(status: int) -> ExitCode:
    """A served student's HTTP refusal, read like the gRPC one it stands for."""
    if status in (401, 403):
        return ExitCode.DENIED
    if status == 404:
        return ExitCode.NOT_FOUND
    if status == 429:
        return ExitCode.QUOTA
    if status in (502, 503, 504):
        return ExitCode.UNAVAILABLE
    return ExitCode.INVALID if 400 <= status < 500 else ExitCode.FAILED


def for_job_state(state: str) -> ExitCode:
    """A job's (or training run's) state as an exit code; unknown states count as failed."""
    return _BY_JOB_STATE.get(state.lower(), ExitCode.FAILED)


def exit_with_state(state: str) -> None:
    """End the command with a job's state as its exit code (returns only when it succeeded)."""
    code = for_job_state(state)
    if code != ExitCode.OK:
        raise click.exceptions.Exit(int(code))


class CommandError(click.ClickException):
    """``Error: MESSAGE`` on stderr and the exit code that says what kind of failure it was."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.exit_code = int(code)


def rpc_error(service: str, exc: grpc.RpcError) -> CommandError:
    """One readable line for a failed call ('registry: PERMISSION_DENIED: ...'), exiting with its meaning."""
    return CommandError(f"{service}: {exc.code().name}: {exc.details()}", for_status(exc.code()))
