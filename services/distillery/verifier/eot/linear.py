"""Exact linear algebra for EoT systems, with fractions.Fraction only (no SymPy).

Two jobs:
* ``to_affine`` folds an expression into ``c0 + c1*v1 + ...`` given the values known
  so far; anything that is not affine (x*y, 100/x, ceil(x)) raises ``NonLinear`` so the
  caller can retry once more values are known, or hand it to SymPy.
* ``LinearSystem`` keeps equations ``affine == 0`` in reduced row echelon form, added one
  at a time. That tells whether a variable is uniquely determined even when other
  unknowns stay free, and detects an inconsistent system (0 == 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from .parser import BinOp, Call, Expr, Neg, Num, Var

MAX_BITS = 20_000  # numerator/denominator size of any intermediate value (~6000 digits)
MAX_EXPONENT = 1000


class NonLinear(Exception):
    """The expression is not affine in the still-unknown variables."""


class NumberTooLarge(Exception):
    """An intermediate value grew beyond MAX_BITS (a resource guard)."""


class Inconsistent(Exception):
    """The equations contradict each other (they reduce to 0 == c, c != 0)."""


def _checked(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise NumberTooLarge(f"intermediate value has more than {MAX_BITS} bits")
    return value


@dataclass
class Affine:
    """const + sum(coeffs[v] * v); zero coefficients are never stored."""

    coeffs: dict[str, Fraction] = field(default_factory=dict)
    const: Fraction = Fraction(0)

    @property
    def is_const(self) -> bool:
        return not self.coeffs

    def scaled(self, factor: Fraction) -> "Affine":
        if factor == 0:
            return Affine()
        return Affine({v: _checked(c * factor) for v, c in self.coeffs.items()}, _checked(self.const * factor))

    def plus(self, other: "Affine", factor: Fraction = Fraction(1)) -> "Affine":
        """self + factor * other."""
        coeffs = dict(self.coeffs)
        for v, c in other.coeffs.items():
            total = _checked(coeffs.get(v, Fraction(0)) + factor * c)
            if total:
                coeffs[v] = total
            else:
                coeffs.pop(v, None)
        return Affine(coeffs, _checked(self.const + factor * other.const))


def to_affine(expr: Expr, known: dict[str, Fraction]) -> Affine:
    """Fold `expr` with the known values substituted. Raises NonLinear,
    ZeroDivisionError (a constant divisor of 0) or NumberTooLarge."""
    if isinstance(expr, Num):
        return Affine({}, expr.value)
    if isinstance(expr, Var):
        if expr.name in known:
            return Affine({}, known[expr.name])
        return Affine({expr.name: Fraction(1)})
    if isinstance(expr, Neg):
        return to_affine(expr.operand, known).scaled(Fraction(-1))
    if isinstance(expr, Call):
        args = [to_affine(arg, known) for arg in expr.args]
        if not all(a.is_const for a in args):
            raise NonLinear(f"{expr.func}() of an unknown")
        return Affine({}, call_function(expr.func, [a.const for a in args]))
    assert isinstance(expr, BinOp)
    # Sums and products of many terms are left-deep trees: walk the left spine in a
    # loop so a long sum does not cost one Python frame per term.
    if expr.op in "+-":
        terms: list[tuple[Expr, int]] = []
        node: Expr = expr
        while isinstance(node, BinOp) and node.op in "+-":
            terms.append((node.right, 1 if node.op == "+" else -1))
            node = node.left
        total = to_affine(node, known)
        for term, sign in reversed(terms):
            total = total.plus(to_affine(term, known), Fraction(sign))
        return total
    left, right = to_affine(expr.left, known), to_affine(expr.right, known)
    if expr.op == "*":
        if left.is_const:
            return right.scaled(left.const)
        if right.is_const:
            return left.scaled(right.const)
        raise NonLinear("product of unknowns")
    if expr.op == "/":
        if not right.is_const:
            raise NonLinear("division by an unknown")
        if right.const == 0:
            raise ZeroDivisionError("division by zero")
        return left.scaled(_checked(1 / right.const))
    if expr.op == "^":
        if not (left.is_const and right.is_const):
            raise NonLinear("power of an unknown")
        return Affine({}, power(left.const, right.const))
    raise NonLinear(f"unknown operator {expr.op}")


def power(base: Fraction, exponent: Fraction) -> Fraction:
    """Exact base**exponent for an integer exponent; other exponents are left to SymPy."""
    if exponent.denominator != 1:
        raise NonLinear("non-integer exponent")
    n = exponent.numerator
    if abs(n) > MAX_EXPONENT:
        raise NumberTooLarge(f"exponent beyond {MAX_EXPONENT}")
    size = max(base.numerator.bit_length(), base.denominator.bit_length())
    if size > 1 and (size - 1) * abs(n) > MAX_BITS:
        raise NumberTooLarge(f"power would exceed {MAX_BITS} bits")
    if base == 0 and n < 0:
        raise ZeroDivisionError("zero to a negative power")
    return _checked(base**n)


def round_half_away(value: Fraction, digits: int = 0) -> Fraction:
    """Schoolbook rounding (2.5 -> 3), not Python's banker's rounding."""
    scale = Fraction(10) ** digits
    magnitude = math.floor(abs(value) * scale + Fraction(1, 2))
    return (magnitude if value >= 0 else -magnitude) / scale


def call_function(func: str, args: list[Fraction]) -> Fraction:
    """Exact value of a whitelisted function of constants (see parser.FUNCTIONS)."""
    if func == "ceil":
        return Fraction(math.ceil(args[0]))
    if func == "floor":
        return Fraction(math.floor(args[0]))
    if func == "int":
        return Fraction(math.trunc(args[0]))
    if func == "abs":
        return abs(args[0])
    if func == "min":
        return min(args)
    if func == "max":
        return max(args)
    if func == "mod":
        if args[1] == 0:
            raise ZeroDivisionError("mod by zero")
        return args[0] - args[1] * math.floor(args[0] / args[1])
    if func == "round":
        digits = args[1] if len(args) == 2 else Fraction(0)
        if digits.denominator != 1 or abs(digits) > 20:
            raise NonLinear("round() needs a small integer number of digits")
        return round_half_away(args[0], int(digits))
    if func == "sqrt":
        value = args[0]
        if value >= 0:
            num, den = math.isqrt(value.numerator), math.isqrt(value.denominator)
            if num * num == value.numerator and den * den == value.denominator:
                return Fraction(num, den)
        raise NonLinear("irrational or non-real square root")  # SymPy decides
    raise NonLinear(f"unsupported function {func}")


class LinearSystem:
    """Equations `affine == 0` kept in reduced row echelon form.

    Each pivot row reads ``pivot + sum(c * free_var) + const == 0`` and mentions no
    other pivot, so a pivot whose row has no free variables is uniquely determined.
    """

    def __init__(self) -> None:
        self.rows: dict[str, Affine] = {}  # pivot variable -> its row (pivot coefficient 1)

    def add(self, row: Affine) -> None:
        """Add `row == 0`. Raises Inconsistent or NumberTooLarge."""
        for var in [v for v in row.coeffs if v in self.rows]:
            if var in row.coeffs:
                row = row.plus(self.rows[var], -row.coeffs[var])
        if row.is_const:
            if row.const != 0:
                raise Inconsistent("no solution")
            return  # redundant
        pivot = min(row.coeffs)  # any choice works; a fixed one keeps results reproducible
        row = row.scaled(1 / row.coeffs[pivot])
        for other, other_row in self.rows.items():
            if pivot in other_row.coeffs:
                self.rows[other] = other_row.plus(row, -other_row.coeffs[pivot])
        self.rows[pivot] = row

    def value(self, var: str) -> Fraction | None:
        row = self.rows.get(var)
        if row is None or len(row.coeffs) != 1:
            return None
        return -row.const

    def determined(self) -> dict[str, Fraction]:
        return {var: -row.const for var, row in self.rows.items() if len(row.coeffs) == 1}

    def depends_on(self, var: str) -> list[str]:
        """What keeps `var` from a unique value: the free variables in its row, or, when
        `var` is free itself, the variables it is tied to (empty if it is in no equation)."""
        row = self.rows.get(var)
        if row is not None:
            return sorted(v for v in row.coeffs if v != var)
        return sorted({v for r in self.rows.values() if var in r.coeffs for v in r.coeffs if v != var})
