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
