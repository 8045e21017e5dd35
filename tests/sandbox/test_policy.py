"""The static policy, on its own: what it refuses and what it lets through."""

import ast

import pytest

from distillery.sandbox.policy import DEFAULT_ALLOWED_IMPORTS, PolicyViolation, check_program


def check(source: str) -> None:
    check_program(ast.parse(source), DEFAULT_ALLOWED_IMPORTS)


@pytest.mark.parametrize("source", [
    "import math\nans = math.floor(3.7) + sum(range(4))",
    "from fractions import Fraction\nans = Fraction(1, 3) * 3",
    "import collections.abc\nans = 1",
    "def solution():\n    total = 0\n    for i in range(5):\n        total += i\n    return total",
    "class Box:\n    def __init__(self, n):\n        self.n = n\nans = Box(3).n",
    "if __name__ == '__main__':\n    ans = 1",
    "ans = f'{3:.2f}'",
])
def test_ordinary_math_programs_pass(source):
    check(source)


@pytest.mark.parametrize("source, reason", [
    ("import os", "import of 'os'"),
    ("import subprocess as sp", "import of 'subprocess'"),
    ("from os import system", "import from 'os'"),
    ("from . import x", "import from '.'"),
    ("import importlib", "import of 'importlib'"),
    ("ans = ().__class__.__base__.__subclasses__()", "attribute '__subclasses__'"),
    ("f = lambda: 0\nans = f.__globals__", "attribute '__globals__'"),
    ("ans = getattr(1, 'real')", "name 'getattr'"),
    ("ans = eval('1+1')", "name 'eval'"),
    ("exec('ans = 1')", "name 'exec'"),
    ("ans = open('/etc/passwd').read()", "name 'open'"),
    ("ans = __import__('os')", "name '__import__'"),
    ("ans = __builtins__", "name '__builtins__'"),
    ("ans = '{0.__class__}'.format(1)", "containing '__'"),
    ("ans = vars()", "name 'vars'"),
    ("ans = globals()", "name 'globals'"),
    ("ans = (1).real._x", "attribute '_x'"),
])
def test_escape_attempts_are_refused_with_the_reason(source, reason):
    with pytest.raises(PolicyViolation, match=reason) as raised:
        check(source)
    assert "line 1" in str(raised.value) or "line" in str(raised.value)


@pytest.mark.parametrize("source, reason", [
    ("def g():\n    yield 1\nans = g().gi_frame", "attribute 'gi_frame'"),
    ("ans = f.f_back.f_globals", "attribute 'f_"),
    ("ans = tb.tb_frame", "attribute 'tb_frame'"),
    ("ans = c.co_consts", "attribute 'co_consts'"),
    ("ans = cell.cell_contents", "attribute 'cell_contents'"),
    ("ans = co.cr_frame", "attribute 'cr_frame'"),
    ("ans = ag.ag_frame", "attribute 'ag_frame'"),
    ("match x:\n    case C(a):\n        pass", "positional sub-patterns"),
    ("match x:\n    case C(gi_frame=a):\n        pass", "attribute 'gi_frame'"),
    ("x.obj += y", "augmented assignment to attribute 'obj'"),
    ("def __builtins__():\n    pass", "name '__builtins__'"),
    ("import math as __builtins__", "name '__builtins__'"),
    ("from fractions import _RATIONAL_FORMAT", "import of '_RATIONAL_FORMAT'"),
])
def test_introspection_and_rebinding_are_refused(source, reason):
    with pytest.raises(PolicyViolation, match=reason):
        check(source)


def test_introspection_names_come_from_the_interpreter_types():
    import types

    from distillery.sandbox.policy import INTROSPECTION_ATTRIBUTES, attribute_allowed

    for kind in (types.FrameType, types.TracebackType, types.GeneratorType, types.CoroutineType):
        for name, value in vars(kind).items():
            if isinstance(value, (types.GetSetDescriptorType, types.MemberDescriptorType)) and not name.startswith("_"):
                assert name in INTROSPECTION_ATTRIBUTES and not attribute_allowed(name)
    # ...and ordinary method names stay usable.
    assert all(attribute_allowed(n) for n in ("append", "clear", "replace", "real", "send", "format", "count"))


def test_methods_may_be_dunders_and_format_loads_are_guarded():
    tree = ast.parse("class A:\n    def __init__(self):\n        self.n = '{}'.format(1)\nans = A().n")
    check_program(tree, DEFAULT_ALLOWED_IMPORTS)
    assert "__sandbox_attr__" in ast.unparse(tree)


def test_exception_attributes_are_checked_at_run_time():
    """``AttributeError.obj`` is the object a failed lookup was made on: inside library code,
    a module. A load of it through the guard refuses that value."""
    import fractions

    from distillery.sandbox.policy import load_attribute, take_violations

    try:
        fractions.no_such_name  # noqa: B018
    except AttributeError as exc:
        error = exc
    with pytest.raises(PolicyViolation, match="module"):
        load_attribute(error, "obj")
    assert load_attribute(error, "name") == "no_such_name"
    assert take_violations()
