"""solve_eot: the value of `ans` in a teacher's Equation-of-Thought system.

Pipeline: parse (our own grammar, never eval/sympify) -> give every re-assigned name
versions (SSA) -> exact linear propagation with Fractions -> SymPy only for what stays
nonlinear. Failures come back as Outcome values, never exceptions.

Re-assignments are ambiguous in teacher text: after ``speed = x`` a later
``speed = 30`` is a constraint on x, but after ``total = 300`` a later ``total = 380``
is a redefinition. We first read such lines as constraints; if that leaves `ans`
undetermined or the system inconsistent, we retry reading every re-assignment as a
new version and keep that reading when it determines `ans`. A line that uses its own
name (``d = d + 15``, ``d -= 4``) after an earlier assignment always makes a new
version.
"""

from __future__ import annotations

from fractions import Fraction

from distillery.core.outcome import Outcome, Status
from .lexer import EotLimitError, EotSyntaxError
from .linear import MAX_BITS, Inconsistent, LinearSystem, NonLinear, NumberTooLarge, to_affine
from .parser import BinOp, Call, Equation, Expr, Neg, Num, Var, names_in, parse_system

ANSWER = "ans"
UNKNOWN = "x"  # the conventional unknown; never dropped as a unit word
MAX_SYMPY_EQUATIONS = 40
MAX_SYMPY_POLY_DEGREE = 12  # x^n with larger n in a nonlinear system may make SymPy crawl

Pair = tuple[Expr, Expr]  # lhs == rhs


class _Failure(Exception):
    """Internal: a solving step ended in a definite failure outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


def solve_eot(text: str) -> Outcome:
    """Parse and solve an EoT system; OK with the value of `ans`, or a failure status."""
    try:
        equations = parse_system(text)
    except EotLimitError as exc:
        return Outcome.fail(Status.RESOURCE_LIMIT, str(exc))
    except EotSyntaxError as exc:
        return Outcome.fail(Status.PARSE_ERROR, str(exc))
    tail_problem = _ambiguous_tail(equations)
    if tail_problem:
        return Outcome.fail(Status.PARSE_ERROR, tail_problem)
    if not any(ANSWER in names_in(side) for eq in equations for side in (eq.lhs, eq.rhs)):
        return Outcome.fail(Status.NO_ANSWER, "no equation defines `ans`")

    as_constraints = _solve_reading(equations, full_ssa=False)
    if as_constraints.status in (Status.OK, Status.RESOURCE_LIMIT) or not _has_reassignment(equations):
        return as_constraints
    as_redefinitions = _solve_reading(equations, full_ssa=True)
    return as_redefinitions if as_redefinitions.status == Status.OK else as_constraints


def _ambiguous_tail(equations: list[Equation]) -> str | None:
    """Trailing words are dropped as units/prose unless one of them is a real variable."""
    variables = {UNKNOWN}
    for eq in equations:
        variables |= names_in(eq.lhs) | names_in(eq.rhs)
    for eq in equations:
        clash = [word for word in eq.tail_words if word in variables]
        if clash:
            return f"line {eq.line_no}: trailing word {clash[0]!r} is also a variable (missing operator?)"
    return None


def _has_reassignment(equations: list[Equation]) -> bool:
    targets = [eq.lhs.name for eq in equations if isinstance(eq.lhs, Var)]
    return len(targets) != len(set(targets))


# -- versioning (SSA) -------------------------------------------------------------------
def _versioned_name(name: str, version: int) -> str:
    return name if version == 0 else f"{name}#{version}"


def _base_name(versioned: str) -> str:
    return versioned.split("#", 1)[0]


def _rename(expr: Expr, version: dict[str, int]) -> Expr:
    if isinstance(expr, Var):
        return Var(_versioned_name(expr.name, version.get(expr.name, 0)))
    if isinstance(expr, Neg):
        return Neg(_rename(expr.operand, version))
    if isinstance(expr, BinOp):
        return BinOp(expr.op, _rename(expr.left, version), _rename(expr.right, version))
    if isinstance(expr, Call):
        return Call(expr.func, tuple(_rename(arg, version) for arg in expr.args))
    return expr


def _version_equations(equations: list[Equation], full_ssa: bool) -> tuple[list[Pair], str]:
    """Equations over versioned names, and the versioned name of the final `ans`.

    A name used before its first assignment refers to version 0, the same value the
    first assignment defines (the text is a system, not a program)."""
    version: dict[str, int] = {}
    assigned: set[str] = set()
    pairs: list[Pair] = []
    for eq in equations:
        rhs = _rename(eq.rhs, version)
        if isinstance(eq.lhs, Var):
            name = eq.lhs.name
            # Self-reference builds on an earlier value, so it needs one: the first
            # assignment `h = 0.6 * (40 + h)` is an equation for h, not an update.
            if name in assigned and (full_ssa or name in names_in(eq.rhs)):
                version[name] = version.get(name, 0) + 1
            assigned.add(name)
            lhs: Expr = Var(_versioned_name(name, version.get(name, 0)))
        else:
            lhs = _rename(eq.lhs, version)
        pairs.append((lhs, rhs))
    return pairs, _versioned_name(ANSWER, version.get(ANSWER, 0))


# -- solving ------------------------------------------------------------------------------
def _solve_reading(equations: list[Equation], full_ssa: bool) -> Outcome:
    pairs, target = _version_equations(equations, full_ssa)
    try:
        value = _solve_pairs(pairs, target)
        return Outcome.ok(float(value))
    except OverflowError:
        return Outcome.fail(Status.NO_ANSWER, "ans is too large for a float")
    except _Failure as failure:
        return failure.outcome
    except Inconsistent:
        return Outcome.fail(Status.EXEC_ERROR, "no solution: the equations contradict each other")
    except ZeroDivisionError as exc:
        return Outcome.fail(Status.EXEC_ERROR, f"division by zero ({exc})")
    except NumberTooLarge as exc:
        return Outcome.fail(Status.RESOURCE_LIMIT, str(exc))


def _solve_pairs(pairs: list[Pair], target: str) -> Fraction | float:
    """Linear propagation: solve the affine equations exactly, substitute every value
    that became known, and retry the nonlinear ones (ceil(n / 4) is affine once n is
    known). What is still nonlinear at the end goes to SymPy."""
    known: dict[str, Fraction] = {}
    pending = list(pairs)
    while True:
        system = LinearSystem()
        deferred: list[Pair] = []
        still_open: list[Pair] = []
        for lhs, rhs in pending:
            try:
                row = to_affine(lhs, known).plus(to_affine(rhs, known), Fraction(-1))
            except NonLinear:
                deferred.append((lhs, rhs))
                still_open.append((lhs, rhs))
                continue
            system.add(row)
            if not row.is_const:
                still_open.append((lhs, rhs))  # fully known equations are checked and done
        if target in known:
            return known[target]
        newly_known = system.determined()
        if target in newly_known:
            return newly_known[target]
        if not deferred:
            raise _Failure(_underdetermined(system.depends_on(target)))
        if not newly_known:
            return _solve_with_sympy(still_open, known, target)
        known.update(newly_known)
        pending = still_open


def _underdetermined(free_names: list[str]) -> Outcome:
    free = sorted({_base_name(name) for name in free_names})
    if not free:
        return Outcome.fail(Status.NO_ANSWER, "underdetermined: no equation fixes ans")
    return Outcome.fail(Status.NO_ANSWER, f"underdetermined: ans depends on {', '.join(free)}")


def _connected_to(target: str, pairs: list[Pair], known: dict[str, Fraction]) -> list[Pair]:
    """Only the equations that share still-unknown names, transitively, with the target."""
    reach, chosen = {target}, []
    remaining = [(pair, (names_in(pair[0]) | names_in(pair[1])) - known.keys()) for pair in pairs]
    grew = True
    while grew:
        grew = False
        for item in list(remaining):
            if item[1] & reach:
                reach |= item[1]
                chosen.append(item[0])
                remaining.remove(item)
                grew = True
    return chosen


def _solve_with_sympy(pairs: list[Pair], known: dict[str, Fraction], target: str) -> float:
    """Nonlinear leftovers (price = 100 / x, a * b = 12). SymPy is imported here, lazily,
    and only ever sees objects we built: never a string from the text."""
    import sympy

    relevant = _connected_to(target, pairs, known)
    if len(relevant) > MAX_SYMPY_EQUATIONS:
        raise _Failure(Outcome.fail(Status.RESOURCE_LIMIT, f"more than {MAX_SYMPY_EQUATIONS} equations for SymPy"))
    converter = _SympyBuilder(sympy, known)
    equations = []
    for lhs, rhs in relevant:
        difference = sympy.expand(converter.build(lhs) - converter.build(rhs))
        if difference.is_number:
            if difference != 0:
                raise Inconsistent("no solution")
            continue
        equations.append(difference)
    target_symbol = converter.symbol(target)
    if not equations:
        raise _Failure(_underdetermined([]))
    symbols = sorted(set().union(*(e.free_symbols for e in equations)) | {target_symbol}, key=str)
    try:
        solutions = sympy.solve(equations, symbols, dict=True)
    except Exception as exc:  # noqa: BLE001 - SymPy raises many types; any of them means "cannot solve"
        raise _Failure(Outcome.fail(Status.NO_ANSWER, f"sympy could not solve the system ({type(exc).__name__})"))
    if not solutions:
        raise Inconsistent("no solution")
    return _pick_answer([target_symbol.subs(solution) for solution in solutions], sympy)


def _pick_answer(candidates: list, sympy) -> float:  # type: ignore[no-untyped-def]
    """One real value for `ans` from SymPy's solution list."""
    values: list[float] = []
    for candidate in candidates:
        if candidate.free_symbols:
            raise _Failure(_underdetermined([str(s) for s in candidate.free_symbols]))
        try:
            number = complex(sympy.N(candidate, 30))
        except (TypeError, ValueError, OverflowError):
            raise _Failure(Outcome.fail(Status.NO_ANSWER, f"ans is not a finite number ({candidate})")) from None
        if abs(number.imag) <= 1e-12 * max(1.0, abs(number.real)):
            if all(abs(number.real - v) > 1e-9 * max(1.0, abs(v)) for v in values):
                values.append(number.real)
    if not values:
        raise _Failure(Outcome.fail(Status.NO_ANSWER, "ans is not real"))
    if len(values) == 1:
        return values[0]
    # x^2 = 16 has two roots; word problems count and measure, so take the only
    # positive one, and give up when that still does not single one out.
    positive = [v for v in values if v > 0]
    if len(positive) == 1:
        return positive[0]
    raise _Failure(Outcome.fail(Status.NO_ANSWER, f"ans is ambiguous: {len(values)} solutions"))


class _SympyBuilder:
    """Our AST -> SymPy objects, built with constructors only."""

    def __init__(self, sympy, known: dict[str, Fraction]) -> None:  # type: ignore[no-untyped-def]
        self.sympy = sympy
        self.known = known
        self.symbols: dict[str, object] = {}

    def symbol(self, name: str):  # type: ignore[no-untyped-def]
        # The name is a validated identifier plus "#k"; Symbol() never parses it.
        if name not in self.symbols:
            self.symbols[name] = self.sympy.Symbol(name)
        return self.symbols[name]

    def rational(self, value: Fraction):  # type: ignore[no-untyped-def]
        return self.sympy.Rational(value.numerator, value.denominator)

    def build(self, expr: Expr):  # type: ignore[no-untyped-def]
        sp = self.sympy
        if isinstance(expr, Num):
            return self.rational(expr.value)
        if isinstance(expr, Var):
            if expr.name in self.known:
                return self.rational(self.known[expr.name])
            return self.symbol(expr.name)
        if isinstance(expr, Neg):
            return sp.Mul(sp.Integer(-1), self.build(expr.operand))
        if isinstance(expr, Call):
            return self.call(expr)
        left, right = self.build(expr.left), self.build(expr.right)
        if expr.op == "+":
            return sp.Add(left, right)
        if expr.op == "-":
            return sp.Add(left, sp.Mul(sp.Integer(-1), right))
        if expr.op == "*":
            return sp.Mul(left, right)
        if expr.op == "/":
            if right == 0:
                raise ZeroDivisionError("division by zero")
            return sp.Mul(left, sp.Pow(right, sp.Integer(-1)))
        self.check_power(left, right)
        return sp.Pow(left, right)

    def check_power(self, base, exponent) -> None:  # type: ignore[no-untyped-def]
        if exponent.is_number:
            if abs(exponent) > 1000:
                raise NumberTooLarge("exponent beyond 1000")
            if not base.is_number and abs(exponent) > MAX_SYMPY_POLY_DEGREE:
                raise NumberTooLarge(f"polynomial degree beyond {MAX_SYMPY_POLY_DEGREE}")
            if base.is_Rational:
                size = max(int(base.p).bit_length(), int(base.q).bit_length())
                if (size - 1) * abs(exponent) > MAX_BITS:
                    raise NumberTooLarge(f"power would exceed {MAX_BITS} bits")

    def call(self, expr: Call):  # type: ignore[no-untyped-def]
        sp = self.sympy
        args = [self.build(arg) for arg in expr.args]
        simple = {"ceil": sp.ceiling, "floor": sp.floor, "abs": sp.Abs, "sqrt": sp.sqrt}
        if expr.func in simple:
            return simple[expr.func](args[0])
        if expr.func == "min":
            return sp.Min(*args)
        if expr.func == "max":
            return sp.Max(*args)
        if expr.func == "mod":
            return sp.Mod(args[0], args[1])
        raise _Failure(Outcome.fail(Status.NO_ANSWER, f"{expr.func}() of an unknown is not supported"))



def sandbox_warmup() -> None:
    """Load SymPy's lazily imported solver modules once, in the sandbox worker.

    The worker is confined (no reading outside the interpreter's own directories, perhaps
    as `nobody`) before it takes work; whatever a solve would import later must be in
    memory by then.
    """
    solve_eot("price = 100 / x\nprice * price = 400\nans = x")
    solve_eot("a = x * y\nx + y = 5\nx - y = 1\nans = a")
