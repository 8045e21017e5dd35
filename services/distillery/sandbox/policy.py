"""The Python policy for untrusted programs: what they are handed, and what they may name.

This is the first of several layers (see ``isolation.py``). It has two halves:

* a static check of the syntax tree (:func:`check_program`): only allowed imports; no
  underscore attribute names and no introspection attributes of frames, tracebacks,
  generators, coroutines, code objects and cells (that set is computed from the
  interpreter's own types, :data:`INTROSPECTION_ATTRIBUTES`); no dunder names; no class
  patterns that look attributes up by run-time names. ``.format``/``.format_map`` loads are
  rewritten into a guarded call, because format strings walk attributes by name at run
  time (``"{0.gi_frame}".format(g)``); so are loads of the attributes in which exceptions
  carry objects (``AttributeError.obj`` can be a library's module), whose value is checked.
* the run-time environment (:class:`ProgramEnvironment`): restricted builtins and, instead
  of the real modules, **wrapped modules** -- read-only views that expose only each
  allowed module's declared API (its ``__all__``, or its public names when it has none),
  never a module object (an allowed package's submodules are wrapped in turn), and with
  the capabilities that reach attributes or ``eval`` by run-time strings withheld or
  replaced by guarded versions (:data:`GUARDED`, :data:`WITHHELD`).

Together: untrusted code has no path to a module object, a frame, or an underscore
attribute. Everything here is computed once per worker, before it forks.

The OS layers (seccomp, Landlock, namespaces, rlimits) are what contain a program that
slips past this layer -- and they are the *only* wall when the policy is off
(``SandboxConfig.ast_policy=False``, a mode for testing those layers): a program then
holds the whole interpreter, including the result channel to its parent, so with the
policy off a verdict is only as good as the OS layers.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import operator
import types
from collections.abc import Iterable

from _string import formatter_field_name_split, formatter_parser

# The file name programs are compiled under; it tells the program's own functions apart.
PROGRAM_FILENAME = "<thought>"

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

# The builtin a rewritten ``x.format`` calls; a dunder name, so programs cannot name it.
ATTRIBUTE_GUARD = "__sandbox_attr__"
# Methods whose format strings read attributes by run-time name: loads go through the guard.
FORMAT_METHODS: frozenset[str] = frozenset({"format", "format_map"})


def _introspection_attributes() -> frozenset[str]:
    """Public attribute names that expose interpreter state, read off the interpreter's types.

    Every data attribute (getset/member descriptor) of frames, tracebacks, generators,
    coroutines, async generators, code objects and cells -- ``gi_frame``, ``f_back``,
    ``f_globals``, ``tb_frame``, ``co_consts``, ``cell_contents``... -- plus the methods of
    code objects that no ordinary value type shares (``co_lines``...). Computed, not listed,
    so a new interpreter's additions are covered too.
    """
    kinds = (types.FrameType, types.TracebackType, types.GeneratorType, types.CoroutineType,
             types.AsyncGeneratorType, types.CodeType, types.CellType)
    data = (types.GetSetDescriptorType, types.MemberDescriptorType)
    names = {name for kind in kinds for name, value in vars(kind).items()
             if not name.startswith("_") and isinstance(value, data)}
    ordinary = {name for kind in (object, str, bytes, int, float, complex, list, dict, set, tuple)
                for name in dir(kind)}
    names |= {name for name in dir(types.CodeType) if not name.startswith("_")} - ordinary
    return frozenset(names)


INTROSPECTION_ATTRIBUTES: frozenset[str] = _introspection_attributes()


def _exception_attributes() -> frozenset[str]:
    """Public data attributes of the builtin exceptions (``AttributeError.obj``, ``.name``...).

    The interpreter fills these with whatever a failed operation involved -- ``obj`` is the
    object a failed attribute lookup was made on, which inside library code can be a module --
    so loads of these names are checked at run time (:func:`load_attribute`).
    """
    data = (types.GetSetDescriptorType, types.MemberDescriptorType)
    kinds = [value for value in vars(builtins).values()
             if isinstance(value, type) and issubclass(value, BaseException)]
    return frozenset(name for kind in kinds for name, value in vars(kind).items()
                     if not name.startswith("_") and isinstance(value, data) and name != "args")


EXCEPTION_ATTRIBUTES: frozenset[str] = _exception_attributes()
# Attribute loads the static check rewrites into a call of the run-time guard.
GUARDED_LOADS: frozenset[str] = FORMAT_METHODS | EXCEPTION_ATTRIBUTES
# What no value a program reads may be: the interpreter's own state.
FORBIDDEN_VALUES = (types.ModuleType, types.FrameType, types.TracebackType, types.CodeType, types.CellType)


class PolicyViolation(Exception):
    """The program uses something the policy forbids; the message says what and where."""


# Violations refused at run time, in order. A program may catch the exception, but not
# undo the record: the runner turns any entry into an ``unsafe`` verdict. Each forked
# child starts with its parent's (empty) list.
_violations: list[str] = []


def _refuse(message: str):
    _violations.append(message)
    raise PolicyViolation(message)


def take_violations() -> list[str]:
    """The run-time violations since the last call (and forget them)."""
    taken = list(_violations)
    _violations.clear()
    return taken


def attribute_allowed(name: str) -> bool:
    """May a program read attribute ``name`` (written in its source or named at run time)?"""
    return not name.startswith("_") and name not in INTROSPECTION_ATTRIBUTES


def _is_dunder(name: str) -> bool:
    return name.startswith("__")


# -- the static check ----------------------------------------------------------------------

def check_program(tree: ast.AST, allowed_imports: Iterable[str]) -> ast.AST:
    """Raise :class:`PolicyViolation` at the first forbidden construct in ``tree``.

    On the way, rewrites (in place) every load of a :data:`GUARDED_LOADS` attribute --
    ``x.format``, ``e.obj`` -- into ``__sandbox_attr__(x, 'format')``, the run-time guard
    (:func:`load_attribute`). Returns ``tree``, ready to compile.
    """
    allowed = frozenset(allowed_imports)
    checks = _CHECKS
    scopes = _SCOPE_NODES
    # (node, directly in a class body): methods may be dunders (``__init__``), but a
    # module-level ``def __builtins__`` would rebind what the program's frames look up.
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    guards: set[int] = set()  # the guard names this rewrite put in (programs may not name it)
    count = 0
    while stack:
        node, in_class = stack.pop()
        count += 1
        if count > MAX_AST_NODES:
            raise PolicyViolation(f"program too large (more than {MAX_AST_NODES} syntax nodes)")
        kind = type(node)
        check = checks.get(kind)
        if check is not None and id(node) not in guards:
            reason = check(node, allowed, in_class)
            if reason:
                line = getattr(node, "lineno", None)
                raise PolicyViolation(f"line {line}: {reason}" if line else reason)
        child_flag = scopes.get(kind, in_class)
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, ast.AST):
                if type(value) is ast.Attribute and value.attr in GUARDED_LOADS and type(value.ctx) is ast.Load:
                    value = _guarded_load(value, guards)
                    setattr(node, field, value)
                stack.append((value, child_flag))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        if type(item) is ast.Attribute and item.attr in GUARDED_LOADS and type(item.ctx) is ast.Load:
                            item = value[index] = _guarded_load(item, guards)
                        stack.append((item, child_flag))
    return tree


def _guarded_load(node: ast.Attribute, guards: set[int]) -> ast.Call:
    """``owner.attr`` -> ``__sandbox_attr__(owner, 'attr')`` (``attr`` is never an underscore name)."""
    guard = ast.copy_location(ast.Name(id=ATTRIBUTE_GUARD, ctx=ast.Load()), node)
    guards.add(id(guard))
    name = ast.copy_location(ast.Constant(value=node.attr), node)
    return ast.copy_location(ast.Call(func=guard, args=[node.value, name], keywords=[]), node)


def _check_import(node: ast.Import, allowed: frozenset[str], in_class: bool) -> str | None:
    for alias in node.names:
        if alias.name.split(".")[0] not in allowed:
            return f"import of '{alias.name}' is not allowed"
        if alias.asname and _is_dunder(alias.asname):
            return f"name '{alias.asname}' is not allowed"
    return None


def _check_import_from(node: ast.ImportFrom, allowed: frozenset[str], in_class: bool) -> str | None:
    if node.level or not node.module or node.module.split(".")[0] not in allowed:
        return f"import from '{node.module or '.'}' is not allowed"
    for alias in node.names:
        if alias.name != "*" and not attribute_allowed(alias.name):
            return f"import of '{alias.name}' from '{node.module}' is not allowed"
        if alias.asname and _is_dunder(alias.asname):
            return f"name '{alias.asname}' is not allowed"
    return None


def _check_attribute(node: ast.Attribute, allowed: frozenset[str], in_class: bool) -> str | None:
    if not attribute_allowed(node.attr):
        return f"attribute '{node.attr}' is not allowed"
    return None


def _check_name(node: ast.Name, allowed: frozenset[str], in_class: bool) -> str | None:
    if node.id in DENIED_NAMES or (_is_dunder(node.id) and node.id != "__name__"):
        return f"name '{node.id}' is not allowed"
    return None


def _check_constant(node: ast.Constant, allowed: frozenset[str], in_class: bool) -> str | None:
    # Format strings walk attributes by name: "{0.__class__}".format(x). (The guard refuses
    # attribute fields at run time as well; this gives the early, clear reason.)
    value = node.value
    if isinstance(value, str):
        if "__" in value and value != "__main__":
            return "string constants containing '__' are not allowed"
    elif isinstance(value, bytes) and b"__" in value:
        return "string constants containing '__' are not allowed"
    return None


def _check_match_class(node: ast.MatchClass, allowed: frozenset[str], in_class: bool) -> str | None:
    # `case C(x)` reads the attributes C.__match_args__ names -- strings chosen at run time --
    # from the subject; `case C(attr=x)` reads `attr` like `subject.attr`.
    if node.patterns:
        return "class patterns with positional sub-patterns are not allowed (use attr=pattern)"
    for name in node.kwd_attrs:
        if not attribute_allowed(name) or name in GUARDED_LOADS:
            return f"attribute '{name}' is not allowed in a class pattern"
    return None


def _check_augmented(node: ast.AugAssign, allowed: frozenset[str], in_class: bool) -> str | None:
    # `x.obj += y` loads x.obj unguarded and hands it to y.__radd__.
    target = node.target
    if type(target) is ast.Attribute and target.attr in GUARDED_LOADS:
        return f"augmented assignment to attribute '{target.attr}' is not allowed"
    return None


def _check_definition(node, allowed: frozenset[str], in_class: bool) -> str | None:
    if _is_dunder(node.name) and not in_class:
        return f"name '{node.name}' is not allowed"
    return None


def _check_bound_names(node, allowed: frozenset[str], in_class: bool) -> str | None:
    names = getattr(node, "names", None) or [getattr(node, "name", None) or getattr(node, "rest", None)]
    for name in names:
        if name and _is_dunder(name):
            return f"name '{name}' is not allowed"
    return None


_CHECKS = {
    ast.Import: _check_import, ast.ImportFrom: _check_import_from, ast.Attribute: _check_attribute,
    ast.Name: _check_name, ast.Constant: _check_constant, ast.MatchClass: _check_match_class,
    ast.FunctionDef: _check_definition, ast.AsyncFunctionDef: _check_definition, ast.ClassDef: _check_definition,
    ast.Global: _check_bound_names, ast.Nonlocal: _check_bound_names, ast.ExceptHandler: _check_bound_names,
    ast.MatchAs: _check_bound_names, ast.MatchStar: _check_bound_names, ast.MatchMapping: _check_bound_names,
    ast.AugAssign: _check_augmented,
}
# Whether a node's children sit directly in a class body.
_SCOPE_NODES = {ast.ClassDef: True, ast.FunctionDef: False, ast.AsyncFunctionDef: False, ast.Lambda: False}


# -- run-time guards -------------------------------------------------------------------------

def _check_format_string(template: str) -> None:
    """Refuse attribute fields (``{0.attr}``), in nested format specs too; indexing stays."""
    for _literal, field, spec, _conversion in formatter_parser(template):
        if field is None:
            continue
        _first, rest = formatter_field_name_split(field)
        for is_attribute, _key in rest:
            if is_attribute:
                _refuse(f"format field '{{{field}}}' reads an attribute; attribute fields are not allowed")
        if spec:
            _check_format_string(spec)


def _format(template, /, *args, **kwargs):
    if isinstance(template, str):
        _check_format_string(template)
    return str.format(template, *args, **kwargs)


def _format_map(template, mapping, /):
    if isinstance(template, str):
        _check_format_string(template)
    return str.format_map(template, mapping)


def _is_program_function(value: object) -> bool:
    """A function (or method) compiled from the program itself, not from a library."""
    function = value.__func__ if type(value) is types.MethodType else value
    return type(function) is types.FunctionType and function.__code__.co_filename == PROGRAM_FILENAME


def _guard_format(owner: object, name: str, value: object) -> object:
    if value is str.format:
        return _format
    if value is str.format_map:
        return _format_map
    if type(value) is types.BuiltinMethodType and isinstance(value.__self__, str) and value.__name__ == name:
        guarded = _format if name == "format" else _format_map
        return functools.partial(guarded, value.__self__)
    if not callable(value) or _is_program_function(value):
        return value
    # A library's own `format` (collections.UserString.format...) calls str.format on data.
    _refuse(f"'{name}' of {type(owner).__name__} objects is not available in the sandbox")


def load_attribute(owner: object, name: str) -> object:
    """``owner.name`` for a name chosen at run time, under the same rules as written ones."""
    if not isinstance(name, str):
        raise TypeError(f"attribute name must be a string, not {type(name).__name__}")
    if not attribute_allowed(name):
        _refuse(f"attribute '{name}' is not allowed")
    value = getattr(owner, name)
    if name in FORMAT_METHODS:
        value = _guard_format(owner, name, value)
    if isinstance(value, FORBIDDEN_VALUES):
        _refuse(f"attribute '{name}' holds a {type(value).__name__} object, which programs may not hold")
    return value


def _attribute_path(name: object) -> list[str]:
    if not isinstance(name, str):
        raise TypeError(f"attribute name must be a string, not {type(name).__name__}")
    parts = name.split(".")
    for part in parts:
        if not attribute_allowed(part):
            _refuse(f"attribute '{part}' is not allowed")
    return parts


def attrgetter(attr, /, *attrs):
    """``operator.attrgetter`` that reads only the attributes a program may name."""
    paths = [_attribute_path(name) for name in (attr, *attrs)]
    if not any(part in GUARDED_LOADS for path in paths for part in path):
        return operator.attrgetter(attr, *attrs)

    def get_one(owner, path):
        for part in path:
            owner = load_attribute(owner, part)
        return owner

    def getter(owner):
        values = tuple(get_one(owner, path) for path in paths)
        return values if len(values) > 1 else values[0]

    return getter


def methodcaller(name, /, *args, **kwargs):
    """``operator.methodcaller`` that calls only methods a program may name."""
    if not isinstance(name, str):
        raise TypeError(f"method name must be a string, not {type(name).__name__}")
    if not attribute_allowed(name):
        _refuse(f"attribute '{name}' is not allowed")
    if name in GUARDED_LOADS:
        return lambda owner: load_attribute(owner, name)(*args, **kwargs)
    return operator.methodcaller(name, *args, **kwargs)


def update_wrapper(wrapper, wrapped, assigned=functools.WRAPPER_ASSIGNMENTS, updated=functools.WRAPPER_UPDATES):
    """``functools.update_wrapper`` with its fixed, harmless attribute lists only.

    The real one's ``assigned``/``updated`` are ``getattr``/``setattr`` by run-time names.
    """
    if tuple(assigned) != functools.WRAPPER_ASSIGNMENTS or tuple(updated) != functools.WRAPPER_UPDATES:
        _refuse("functools.update_wrapper/wraps with other attribute lists is not allowed")
    return functools.update_wrapper(wrapper, wrapped)


def wraps(wrapped, assigned=functools.WRAPPER_ASSIGNMENTS, updated=functools.WRAPPER_UPDATES):
    """``functools.wraps`` with its fixed attribute lists only (see :func:`update_wrapper`)."""
    if tuple(assigned) != functools.WRAPPER_ASSIGNMENTS or tuple(updated) != functools.WRAPPER_UPDATES:
        _refuse("functools.update_wrapper/wraps with other attribute lists is not allowed")
    # Not functools.partial: its public `.func` would hand back the unguarded function.
    return lambda wrapper: functools.update_wrapper(wrapper, wrapped)


# Capabilities of allowed modules that reach attributes or eval() by run-time strings:
# replaced by a guarded version, or withheld with the reason a program is told.
GUARDED: dict[tuple[str, str], object] = {
    ("operator", "attrgetter"): attrgetter,
    ("operator", "methodcaller"): methodcaller,
    ("functools", "update_wrapper"): update_wrapper,
    ("functools", "wraps"): wraps,
}
WITHHELD: dict[tuple[str, str], str] = {
    ("typing", "get_type_hints"): "it evaluates annotation strings with the interpreter's own builtins",
    ("functools", "singledispatch"): "register() evaluates annotation strings with the interpreter's own builtins",
    ("functools", "singledispatchmethod"): "register() evaluates annotation strings with the interpreter's own builtins",
    ("string", "Formatter"): "it reads attribute fields of format strings",
}


# -- wrapped modules -----------------------------------------------------------------------

class SandboxedModule:
    """A read-only view of an allowed module: its allowlisted API, nothing else.

    Not a module object (a program must never hold one); the state lives in
    underscore-named slots, which no program can name.
    """

    __slots__ = ("_name", "_api", "_withheld")

    def __init__(self, name: str, api: dict[str, object], withheld: dict[str, str]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_api", api)
        object.__setattr__(self, "_withheld", withheld)

    def __getattr__(self, attr: str) -> object:
        api = object.__getattribute__(self, "_api")
        if attr in api:
            return api[attr]
        name = object.__getattribute__(self, "_name")
        if attr == "__all__":  # `from math import *`
            return tuple(sorted(api))
        reason = object.__getattribute__(self, "_withheld").get(attr)
        if reason:
            _refuse(f"{name}.{attr} is not available in the sandbox ({reason})")
        raise AttributeError(f"module '{name}' has no attribute '{attr}'")

    def __setattr__(self, attr: str, value: object) -> None:
        raise AttributeError(f"module '{object.__getattribute__(self, '_name')}' is read-only in the sandbox")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError(f"module '{object.__getattribute__(self, '_name')}' is read-only in the sandbox")

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_api"))

    def __repr__(self) -> str:
        return f"<module '{object.__getattribute__(self, '_name')}' (sandboxed)>"


class ProgramEnvironment:
    """What programs of one sandbox get: wrapped modules and restricted builtins.

    Built once per worker (before it forks), so a task only copies the builtins table.
    """

    def __init__(self, allowed_imports: Iterable[str]) -> None:
        self.allowed = frozenset(allowed_imports)
        self.modules: dict[str, SandboxedModule] = {}
        self.failed: dict[str, str] = {}
        for name in sorted(self.allowed):
            try:
                self.import_module(name)
            except Exception as exc:  # noqa: BLE001 -- reported when a program imports it
                self.failed[name] = f"{type(exc).__name__}: {exc}"
        self._builtins = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
        self._builtins["__import__"] = self._import
        self._builtins[ATTRIBUTE_GUARD] = load_attribute

    def builtins(self, print_function) -> dict:
        """The ``__builtins__`` of one program run."""
        table = dict(self._builtins)
        table["print"] = print_function
        return table

    def import_module(self, name: str) -> SandboxedModule:
        """The wrapped module ``name`` (imported and wrapped on first use)."""
        wrapped = self.modules.get(name)
        if wrapped is not None:
            return wrapped
        parts = name.split(".")
        if parts[0] not in self.allowed or not all(part and attribute_allowed(part) for part in parts):
            _refuse(f"import of '{name}' is not allowed")
        module = importlib.import_module(name)
        api: dict[str, object] = {}
        withheld: dict[str, str] = {}
        wrapped = self.modules[name] = SandboxedModule(name, api, withheld)
        declared = getattr(module, "__all__", None)
        names = [n for n in (declared if declared is not None else vars(module)) if isinstance(n, str)]
        for attr in names:
            if not attribute_allowed(attr) or not hasattr(module, attr):
                continue
            if (name, attr) in WITHHELD:
                withheld[attr] = WITHHELD[name, attr]
            elif (name, attr) in GUARDED:
                api[attr] = GUARDED[name, attr]
            else:
                value = getattr(module, attr)
                if not isinstance(value, types.ModuleType):
                    api[attr] = value
        # Submodules of an allowed package (collections.abc), wrapped in turn; any other
        # module-valued or undeclared name (fractions.sys, statistics.random) is withheld.
        for attr, value in list(vars(module).items()):
            if not attribute_allowed(attr) or attr in api:
                continue
            if isinstance(value, types.ModuleType) and value.__name__ == f"{name}.{attr}":
                api[attr] = self.import_module(value.__name__)
            elif isinstance(value, types.ModuleType):
                withheld.setdefault(attr, "a module; only its allowed API is exposed")
            else:
                withheld.setdefault(attr, "not part of the module's declared API (__all__)")
        if len(parts) > 1:  # `import collections.abc` then `collections.abc.Mapping`
            parent = self.import_module(".".join(parts[:-1]))
            object.__getattribute__(parent, "_api")[parts[-1]] = wrapped
            object.__getattribute__(parent, "_withheld").pop(parts[-1], None)
        return wrapped

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        """The ``__import__`` programs get: wrapped modules of the allowed packages only."""
        if level or not isinstance(name, str) or name.split(".")[0] not in self.allowed:
            _refuse(f"import of '{name}' is not allowed")
        if name in self.failed and name not in self.modules:
            raise ImportError(f"module '{name}' is not available: {self.failed[name]}")
        wrapped = self.import_module(name)
        if fromlist:
            for item in fromlist:  # `from collections import abc` imports the submodule
                if isinstance(item, str) and item != "*" and attribute_allowed(item):
                    try:
                        self.import_module(f"{name}.{item}")
                    except ImportError:
                        pass
            return wrapped
        return self.modules[name.split(".")[0]]


_environments: dict[frozenset[str], ProgramEnvironment] = {}


def environment(allowed_imports: Iterable[str]) -> ProgramEnvironment:
    """The (cached) environment for programs of this allowlist."""
    key = frozenset(allowed_imports)
    env = _environments.get(key)
    if env is None:
        env = _environments[key] = ProgramEnvironment(key)
    return env

