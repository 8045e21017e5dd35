"""What runs inside an execution child, after it has been hardened.

Two kinds of task:
  * ``python`` -- an untrusted program: policy check, then ``exec`` with restricted
    builtins and captured, bounded output; the result is the number left in
    ``result_name`` (``ans``) or returned by ``fallback_function()`` (PAL style);
  * ``call`` -- a trusted function from a preloaded module applied to untrusted data
    (e.g. the EoT solver), here only for its time and memory limits.

Both return a plain dict: ``status``, ``answer``, ``error`` and ``stdout``.
"""

from __future__ import annotations

import ast
import decimal
import fractions
import importlib
import io
import numbers
import sys

from distillery.core.outcome import Outcome, Status
from distillery.sandbox import policy
from distillery.sandbox.policy import MAX_SOURCE_CHARS, PROGRAM_FILENAME, PolicyViolation


class OutputLimitExceeded(Exception):
    pass


class BoundedOutput(io.TextIOBase):
    """A stdout that keeps at most ``limit`` characters and stops a program that floods it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        text = str(text)
        self.size += len(text)
        if self.size > self.limit:
            raise OutputLimitExceeded(f"output exceeded {self.limit} bytes")
        self.parts.append(text)
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


class NotANumber(Exception):
    pass


def as_number(value: object) -> float:
    """Turn a program's result into a float, or say why it is not a number."""
    if isinstance(value, bool):
        raise NotANumber("result is a bool")
    if isinstance(value, (int, fractions.Fraction, decimal.Decimal, float, numbers.Real)):
        return float(value)
    if isinstance(value, complex):
        if value.imag == 0:
            return float(value.real)
        raise NotANumber("result is a non-real complex number")
    if isinstance(value, str):
        text = value.strip().replace(",", "").lstrip("$")
        try:
            return float(text)
        except ValueError:
            raise NotANumber(f"result is a non-numeric string {value[:40]!r}") from None
    raise NotANumber(f"result is of type {type(value).__name__}")


def run_python(task: dict) -> dict:
    output = BoundedOutput(task["limits"]["max_output_bytes"])
    outcome = _run_python(task, output)
    return {"status": outcome.status.value, "answer": outcome.answer, "error": outcome.error,
            "stdout": output.getvalue()}


def _run_python(task: dict, output: BoundedOutput) -> Outcome:
    source = task["source"]
    if len(source) > MAX_SOURCE_CHARS:
        return Outcome.fail(Status.RESOURCE_LIMIT, f"program longer than {MAX_SOURCE_CHARS} characters")
    try:
        tree = ast.parse(source, PROGRAM_FILENAME)
    except (SyntaxError, ValueError) as exc:
        return Outcome.fail(Status.PARSE_ERROR, f"{type(exc).__name__}: {exc}")
    except (MemoryError, RecursionError) as exc:
        return Outcome.fail(Status.RESOURCE_LIMIT, f"program too deeply nested to parse ({type(exc).__name__})")
    enforce = task.get("ast_policy", True)
    try:
        if enforce:
            tree = policy.check_program(tree, task["allowed_imports"])  # checked, guarded loads rewritten
        code = compile(tree, PROGRAM_FILENAME, "exec")
    except PolicyViolation as exc:
        return Outcome.fail(Status.UNSAFE, str(exc))
    except (SyntaxError, ValueError) as exc:
        return Outcome.fail(Status.PARSE_ERROR, f"{type(exc).__name__}: {exc}")
    except (MemoryError, RecursionError) as exc:
        return Outcome.fail(Status.RESOURCE_LIMIT, f"program too complex to compile ({type(exc).__name__})")

    def sandbox_print(*args, sep=" ", end="\n", file=None, flush=False):
        output.write(("" if sep is None else str(sep)).join(map(str, args)) + ("\n" if end is None else str(end)))

    if enforce:
        # Wrapped modules and guarded builtins, built once per worker before it forked.
        namespace = {"__builtins__": policy.environment(task["allowed_imports"]).builtins(sandbox_print),
                     "__name__": "__thought__"}
    else:  # policy off (tests of the OS layers): the full interpreter, contained by the OS only
        namespace = {"__name__": "__thought__"}
    policy.take_violations()
    sys.stdout = sys.stderr = output
    try:
        outcome = _execute(code, namespace, task)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    # A refusal at run time is the verdict even if the program caught the exception.
    violations = policy.take_violations()
    if violations:
        return Outcome.fail(Status.UNSAFE, violations[0])
    return outcome


def _execute(code, namespace: dict, task: dict) -> Outcome:
    try:
        exec(code, namespace)  # noqa: S102 -- the point of this sandboxed child
        result_name, fallback = task["result_name"], task.get("fallback_function")
        if result_name in namespace:
            value = namespace[result_name]
        elif fallback and callable(namespace.get(fallback)):
            value = namespace[fallback]()
        else:
            hint = f" nor `{fallback}()`" if fallback else ""
            return Outcome.fail(Status.NO_ANSWER, f"program defines neither `{result_name}`{hint}")
        return Outcome.ok(as_number(value))
    except NotANumber as exc:
        return Outcome.fail(Status.NO_ANSWER, str(exc))
    except PolicyViolation as exc:
        return Outcome.fail(Status.UNSAFE, str(exc))
    except (MemoryError, RecursionError, OutputLimitExceeded) as exc:
        return Outcome.fail(Status.RESOURCE_LIMIT, f"{type(exc).__name__}: {_text(exc)}")
    except OverflowError as exc:
        return Outcome.fail(Status.EXEC_ERROR, f"OverflowError: {_text(exc)}")
    except BaseException as exc:  # noqa: BLE001 -- any failure of the program is its result
        return Outcome.fail(Status.EXEC_ERROR, _describe(exc))


def _text(exc: BaseException) -> str:
    """``str(exc)``, which runs the program's own ``__str__``: bounded, and never raising."""
    try:
        text = str(exc)
        return text[:300] if isinstance(text, str) else "?"
    except BaseException:  # noqa: BLE001
        return "(unprintable exception)"


def _describe(exc: BaseException) -> str:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == PROGRAM_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}: {_text(exc)}{where}"


def run_call(task: dict, preloaded: tuple[str, ...]) -> dict:
    module_name, _, function_name = task["function"].partition(":")
    if module_name not in preloaded:
        outcome = Outcome.fail(Status.UNSAFE, f"{module_name} is not a preloaded module")
    else:
        try:
            outcome = getattr(importlib.import_module(module_name), function_name)(*task["args"])
        except (MemoryError, RecursionError) as exc:
            outcome = Outcome.fail(Status.RESOURCE_LIMIT, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 -- report, never crash the worker protocol
            outcome = Outcome.fail(Status.EXEC_ERROR, f"{type(exc).__name__}: {exc}")
    return {"status": Status(outcome.status).value, "answer": outcome.answer, "error": outcome.error,
            "stdout": ""}
