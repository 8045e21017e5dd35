"""Verification results: the shared :class:`~distillery.core.outcome.Outcome` value."""

from distillery.core.outcome import Outcome, Status

__all__ = ["Outcome", "Status"]
