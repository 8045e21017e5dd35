"""Equation-of-Thought: parse a teacher's system of equations and solve it for `ans`."""

from .solve import solve_eot

__all__ = ["solve_eot"]
