"""Static policy for untrusted Python: which imports, names and attributes a program may use.

This is the first of several layers (see ``isolation.py``): it turns the common escape
attempts into a clear ``unsafe`` verdict with a reason, before anything runs. It is not
what makes execution safe -- the OS layers (seccomp, Landlock, namespaces, rlimits) are;
they still hold if a program slips past this check.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable

# Modules a math program may reasonably need; everything they reach is pure computation.
DEFAULT_ALLOWED_IMPORTS: tuple[str, ...] = (
    "math",
    "cmath",
    "fractions",
    "decimal",
    "numbers",
    "statistics",
    "itertools",
    "functools",
    "operator",
    "collections",
    "datetime",
    "re",
    "string",
    "random",
    "heapq",
    "bisect",
    "typing",
)

# Builtins that reach the interpreter, the file system or the caller's frames.
DENIED_NAMES: frozenset[str] = frozenset(
    {
        "eval", "exec", "compile", "open", "__import__", "globals", "locals", "vars",
        "getattr", "setattr", "delattr", "breakpoint", "input", "help", "exit", "quit",
        "memoryview", "dir", "__builtins__", "__loader__", "__spec__", "copyright",
        "credits", "license",
    }
)

SAFE_BUILTINS: tuple[str, ...] = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytes", "callable", "chr", "complex",
    "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "hex",
    "id", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min",
    "next", "object", "oct", "ord", "pow", "print", "property", "range", "repr", "reversed",
    "round", "set", "slice", "sorted", "staticmethod", "classmethod", "str", "sum", "super",
    "tuple", "type", "zip", "True", "False", "None", "NotImplemented", "Ellipsis",
    "__build_class__",
    # Exceptions, so programs can raise and catch the ordinary ones.
    "BaseException", "Exception", "ArithmeticError", "AssertionError", "AttributeError",
    "IndexError", "KeyError", "LookupError", "NameError", "NotImplementedError",
    "OverflowError", "RecursionError", "RuntimeError", "StopIteration", "TypeError",
    "ValueError", "ZeroDivisionError",
)

MAX_SOURCE_CHARS = 100_000
MAX_AST_NODES = 50_000


class PolicyViolation(Exception):
    """The program uses something the policy forbids; the message says what and where."""


def check_program(tree: ast.AST, allowed_imports: Iterable[str]) -> None:
    """Raise :class:`PolicyViolation` at the first forbidden construct in ``tree``."""
    allowed = frozenset(allowed_imports)
    for count, node in enumerate(ast.walk(tree), start=1):
        if count > MAX_AST_NODES:
            raise PolicyViolation(f"program too large (more than {MAX_AST_NODES} syntax nodes)")
        reason = _violation(node, allowed)
        if reason:
            line = getattr(node, "lineno", None)
            raise PolicyViolation(f"line {line}: {reason}" if line else reason)


def _violation(node: ast.AST, allowed: frozenset[str]) -> str | None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] not in allowed:
                return f"import of '{alias.name}' is not allowed"
    elif isinstance(node, ast.ImportFrom):
        if node.level or not node.module or node.module.split(".")[0] not in allowed:
            return f"import from '{node.module or '.'}' is not allowed"
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            return f"attribute '{node.attr}' is not allowed"
    elif isinstance(node, ast.Name):
        if node.id in DENIED_NAMES or (node.id.startswith("__") and node.id != "__name__"):
            return f"name '{node.id}' is not allowed"
    elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        # Format strings walk attributes by name: "{0.__class__}".format(x).
        marker = "__" if isinstance(node.value, str) else b"__"
        if marker in node.value and node.value != "__main__":
            return "string constants containing '__' are not allowed"
    return None


def guarded_import(allowed_imports: Iterable[str]):
    """An ``__import__`` replacement that admits only the allowed top-level modules."""
    allowed = frozenset(allowed_imports)
    real_import = builtins.__import__

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or name.split(".")[0] not in allowed:
            raise PolicyViolation(f"import of '{name}' is not allowed")
        return real_import(name, globals, locals, fromlist, level)

    return _import


def restricted_builtins(allowed_imports: Iterable[str], print_function) -> dict:
    """The ``__builtins__`` a sandboxed program sees."""
    table = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    table["print"] = print_function
    table["__import__"] = guarded_import(allowed_imports)
    return table
