"""Attacks on the Python policy and on the result channel, against the real sandbox.

Three kinds, from issue 14 section 1:
  * routes to a real module, a frame or an underscore attribute from the allowed modules
    and builtins (``fractions.sys``, ``attrgetter('_exit')``, ``g.gi_frame.f_back``,
    format-string walks, ``get_type_hints``...): each must come back ``unsafe`` (never
    ``ok`` with what the attacker wanted), and the sandbox keeps serving;
  * a walk over everything the policy hands a program, through every attribute name the
    policy permits: no module, frame, traceback, code object, cell or module globals;
  * forged results: with the policy off (so the program really holds ``os``) a program
    writes its own "result" to the result pipe and exits; the parent must not believe a
    malformed one, and one bad thought never fails a batch.
"""

from __future__ import annotations

import collections
import types

import pytest

from distillery.core.outcome import Status
from distillery.sandbox import ExecutionLimits, Sandbox, SandboxConfig
from distillery.sandbox.policy import DEFAULT_ALLOWED_IMPORTS

# Each program tries to reach `os` (or a frame, or an underscore name) and, if it does,
# leaves a number in `ans` that it could not have computed otherwise.
ATTACKS = {
    "fractions.sys": "import fractions\nos = fractions.sys.modules['os']\nans = len(os.listdir('/'))",
    "typing.sys": "import typing\nans = len(typing.sys.modules)",
    "statistics.sys": "import statistics\nans = len(statistics.sys.path)",
    "datetime.sys": "import datetime\nans = len(datetime.sys.modules)",
    "from-import of a module": "from fractions import sys\nans = len(sys.modules)",
    "re.functools": "import re\nans = len(re.functools.WRAPPER_ASSIGNMENTS)",
    "typing.collections": "import typing\nans = len(typing.collections.abc.__name__)",
    "statistics.random.sys": "import statistics\nans = len(statistics.random.sys.modules)",
    "attrgetter underscore": (
        "import operator, fractions\nget = operator.attrgetter('_exit')\n"
        "ans = 1 if get(fractions) else 0"
    ),
    "attrgetter dotted walk": (
        "import operator\ndef g():\n    yield 1\nf = operator.attrgetter('gi_frame.f_back.f_globals')(g())\n"
        "ans = len(f)"
    ),
    "attrgetter built at run time": (
        "import operator\nname = '_' * 2 + 'class' + '_' * 2\nans = len(str(operator.attrgetter(name)(1)))"
    ),
    "methodcaller underscore": (
        "import operator\nname = '_' * 2 + 'subclasses' + '_' * 2\n"
        "ans = len(operator.methodcaller(name)(object))"
    ),
    "methodcaller format": (
        "import operator\ndef g():\n    yield 1\n"
        "ans = len(operator.methodcaller('format', g())('{0.gi_frame.f_back}'))"
    ),
    "generator frame walk": (
        "def g():\n    yield 1\nit = g()\nglobs = it.gi_frame.f_back.f_globals\nans = len(globs)"
    ),
    "coroutine frame": "async def c():\n    return 1\nco = c()\nans = len(str(co.cr_frame))",
    "code object": "def f():\n    pass\ng = (x for x in [])\nans = len(g.gi_code.co_consts)",
    "traceback frame": (
        "import operator\ntry:\n    1 / 0\nexcept ZeroDivisionError as e:\n"
        "    tb = operator.attrgetter('_' * 2 + 'traceback' + '_' * 2)(e)\n"
        "ans = len(tb.tb_frame.f_globals)"
    ),
    "format string walk": (
        "def g():\n    yield 1\nans = len('{0.gi_frame.f_back.f_globals}'.format(g()))"
    ),
    "format string built at run time": (
        "name = '{0.' + '_' * 2 + 'class' + '_' * 2 + '}'\nans = len(name.format(1))"
    ),
    "format_map walk": (
        "def g():\n    yield 1\nans = len('{x.gi_frame}'.format_map({'x': g()}))"
    ),
    "format through str.format": (
        "def g():\n    yield 1\nf = str.format\nans = len(f('{0.gi_frame}', g()))"
    ),
    "format nested in a spec": (
        "def g():\n    yield 1\nans = len('{0:{1.gi_frame}}'.format(1, g()))"
    ),
    "format of a str subclass via super": (
        "def g():\n    yield 1\nclass S(str):\n    def show(self, x):\n        return super().format(x)\n"
        "ans = len(S('{0.gi_frame}').show(g()))"
    ),
    "UserString.format": (
        "import collections\ndef g():\n    yield 1\n"
        "ans = len(collections.UserString('{0.gi_frame}').format(g()))"
    ),
    "string.Formatter": (
        "import string\ndef g():\n    yield 1\nans = len(string.Formatter().format('{0.gi_frame}', g()))"
    ),
    "get_type_hints evaluates with real builtins": (
        "import typing\nclass A:\n    x: \"open('/etc/hostname').read()\"\n"
        "ans = len(typing.get_type_hints(A)['x'])"
    ),
    "singledispatch register evaluates annotations": (
        "import functools\nclass A:\n    x: \"open('/etc/hostname').read()\"\n"
        "f = functools.singledispatch(lambda v: v)\nf.register(A())\nans = 1"
    ),
    "update_wrapper as getattr": (
        "import functools, statistics\nclass Box:\n    pass\nb = Box()\n"
        "name = '_' * 2 + 'globals' + '_' * 2\n"
        "functools.update_wrapper(b, statistics.mean, assigned=(name,), updated=())\nans = 1"
    ),
    "match class pattern with positional sub-patterns": (
        "def g():\n    yield 1\nmatch g():\n    case object(x):\n        ans = 1"
    ),
    "match class pattern reading gi_frame": (
        "def g():\n    yield 1\nmatch g():\n    case object(gi_frame=f):\n        ans = 1"
    ),
    "augmented assignment loads format unguarded": (
        "class Grab:\n    def __radd__(self, other):\n        return other\n"
        "class S:\n    pass\ns = S()\ns.format = 1\ns.format += Grab()\nans = 1"
    ),
    "module-level def of the guard's name": (
        "def __sandbox_attr__(owner, name):\n    return 1\nans = 1"
    ),
    "caught violation stays unsafe": (
        "import fractions\ntry:\n    fractions.sys\nexcept Exception:\n    pass\nans = 42"
    ),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_refused_and_the_sandbox_keeps_serving(sandbox, name):
    outcome = sandbox.run_python(ATTACKS[name]).outcome
    assert outcome.status is Status.UNSAFE, (name, outcome)
    assert outcome.answer is None and outcome.error
    assert sandbox.run_python("ans = 6 * 7").outcome.answer == 42.0


@pytest.mark.parametrize("source, expected", [
    ("import math\nans = math.floor(7.9) + math.sqrt(16)", 11.0),
    ("from fractions import Fraction\nans = Fraction(1, 3) * 3", 1.0),
    ("import fractions\nans = fractions.Fraction(3, 4) * 4", 3.0),
    ("from math import *\nans = floor(pi)", 3.0),
    ("import collections.abc\nans = int(isinstance([], collections.abc.Sequence))", 1.0),
    ("from collections.abc import Mapping\nans = int(isinstance({}, Mapping))", 1.0),
    ("import collections\nans = collections.Counter('aab')['a']", 2.0),
    ("import operator\nans = operator.attrgetter('real')(5) + operator.methodcaller('count', 1)([1, 1])", 7.0),
    ("import operator\nans = operator.attrgetter('numerator', 'denominator')(0.5.as_integer_ratio()[0])[0]", 1.0),
    ("ans = float('{:.2f}'.format(3.14159))", 3.14),
    ("ans = float('{0}{1}'.format(4, 2))", 42.0),
    ("ans = float('{x[0]}'.format_map({'x': [7]}))", 7.0),
    ("ans = float(str.format('{}', 9))", 9.0),
    ("class Money:\n    def __init__(self, v):\n        self.v = v\n    def format(self):\n        return str(self.v)\n"
     "ans = float(Money(5).format())", 5.0),
    ("import statistics\nans = statistics.mean([1, 2, 3])", 2.0),
    ("import datetime\nans = (datetime.date(2024, 3, 1) - datetime.date(2024, 2, 1)).days", 29.0),
    ("import decimal\nans = decimal.Decimal('1.1') + decimal.Decimal('2.2')", 3.3),
    ("import itertools, functools\nans = functools.reduce(lambda a, b: a + b, itertools.chain([1], [2]))", 3.0),
    ("import functools\n@functools.lru_cache(maxsize=None)\ndef fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)\n"
     "ans = fib(20)", 6765.0),
    ("import functools\ndef deco(f):\n    @functools.wraps(f)\n    def inner(*a):\n        return f(*a)\n    return inner\n"
     "@deco\ndef two():\n    return 2\nans = two()", 2.0),
    ("from typing import List\ndef total(xs: List[int]) -> int:\n    return sum(xs)\nans = total([1, 2])", 3.0),
    ("import random\nrandom.seed(1)\nans = len([random.randint(1, 6) for _ in range(3)])", 3.0),
    ("import re\nans = len(re.findall(r'\\d+', 'a1b22c333'))", 3.0),
    ("import string\nans = len(string.ascii_lowercase)", 26.0),
    ("def gen():\n    yield 1\n    yield 2\nans = sum(gen())", 3.0),
    ("try:\n    import math\n    math.nope\nexcept AttributeError:\n    ans = 1", 1.0),
])
def test_ordinary_programs_still_work(sandbox, source, expected):
    outcome = sandbox.run_python(source).outcome
    assert outcome.status is Status.OK, (source, outcome)
    assert outcome.answer == pytest.approx(expected)


# -- the walk ------------------------------------------------------------------------------

FORBIDDEN_TYPES = (types.ModuleType, types.FrameType, types.TracebackType, types.CodeType, types.CellType)


def _module_dicts() -> set[int]:
    import sys

    return {id(vars(m)) for m in list(sys.modules.values()) if m is not None}


def test_walk_of_everything_a_program_is_handed_reaches_no_module_frame_or_globals():
    """Breadth-first over the wrapped modules and safe builtins, a few levels deep, through
    exactly the attribute names the policy lets a program write (and read at run time)."""
    from distillery.sandbox import policy

    env = policy.ProgramEnvironment(DEFAULT_ALLOWED_IMPORTS)
    # What a program starts with: its builtins, every importable wrapped module, plus a few
    # values it can build (instances, a generator, a caught exception) to walk from.
    namespace = env.builtins(print)
    roots: dict[str, object] = {f"builtins.{k}": v for k, v in namespace.items()}
    for name in DEFAULT_ALLOWED_IMPORTS:
        roots[name] = env.import_module(name)

    def gen():
        yield 1

    import decimal
    import fractions
    import random
    import re
    roots.update({"generator": gen(), "fraction": fractions.Fraction(1, 3), "decimal": decimal.Decimal(1),
                  "random": random.Random(1), "match": re.match("a", "a"), "deque": collections.deque([1])})
    try:
        1 / 0
    except ZeroDivisionError as exc:
        roots["exception"] = exc

    seen, bad = _walk(roots, policy, depth=5)
    assert not bad, "\n".join(bad[:50])
    assert len(seen) > 3000  # the walk did cover the API
    # ...and it does see what it looks for: handed the real module, it flags it at once.
    import fractions as real
    assert _walk({"real": real.Fraction.from_float}, policy, depth=1)[1] == []
    assert _walk({"real": real}, policy, depth=1)[1] == ["real: module"]


def _walk(roots: dict, policy, depth: int) -> tuple[dict, list[str]]:
    import importlib

    module_dicts = _module_dicts()
    # The capabilities the policy withholds or replaces must not be reachable another way.
    originals = {id(getattr(importlib.import_module(module), name)): f"{module}.{name}"
                 for module, name in (*policy.WITHHELD, *policy.GUARDED)}
    seen: dict[int, object] = {}  # keeps every value alive, so no id is reused mid-walk
    frontier = list(roots.items())
    bad: list[str] = []
    for _level in range(depth):
        following = []
        for path, value in frontier:
            if id(value) in seen:
                continue
            seen[id(value)] = value
            if isinstance(value, FORBIDDEN_TYPES) or (isinstance(value, dict) and id(value) in module_dicts):
                bad.append(f"{path}: {type(value).__name__}")
                continue
            if id(value) in originals:
                bad.append(f"{path}: the unguarded {originals[id(value)]}")
                continue
            for attr in dir(value):
                if not policy.attribute_allowed(attr):
                    continue
                try:
                    child = policy.load_attribute(value, attr)
                except Exception:  # noqa: BLE001 -- refused or not readable: not reachable
                    continue
                following.append((f"{path}.{attr}", child))
        frontier = following
    policy.take_violations()  # the walk's own refusals (format methods of library objects)
    return seen, bad


# -- forged results ------------------------------------------------------------------------

# Writes PAYLOAD (as a raw JSON text and/or as a length-prefixed frame) to every open
# descriptor it can, then exits without running the real runner's reporting.
FORGE = """
import os, struct
payload = {payload}
data = {data}
for fd in range(3, 64):
    try:
        os.write(fd, data)
    except OSError:
        pass
os._exit(0)
"""


def _forge(payload: bytes, framing: str) -> str:
    data = {"raw": "payload", "framed": "struct.pack('>I', len(payload)) + payload",
            "two frames": "(struct.pack('>I', len(payload)) + payload) * 2",
            "trailing": "struct.pack('>I', len(payload)) + payload + b'{}'"}[framing]
    return FORGE.format(payload=payload if isinstance(payload, str) else repr(payload), data=data)


MALFORMED = {
    "string answer": b'{"status":"ok","answer":"42","error":null,"stdout":""}',
    "unknown status": b'{"status":"correct","answer":42.0,"error":null,"stdout":""}',
    "extra key": b'{"status":"ok","answer":42.0,"error":null,"stdout":"","correct":true}',
    "missing key": b'{"status":"ok","answer":42.0}',
    "ok without answer": b'{"status":"ok","answer":null,"error":null,"stdout":""}',
    "failure with an answer": b'{"status":"exec_error","answer":42.0,"error":"x","stdout":""}',
    "nan answer": b'{"status":"ok","answer":NaN,"error":null,"stdout":""}',
    "bool answer": b'{"status":"ok","answer":true,"error":null,"stdout":""}',
    "list": b'[1, 2]',
    # Built by the program (a source of that size is refused before it runs).
    "huge error": """b'{"status":"exec_error","answer":null,"error":"' + b"x" * 200_000 + b'","stdout":""}'""",
    "not json": b'\xff\xfe',
}
VALID = b'{"status":"ok","answer":42.0,"error":null,"stdout":""}'


@pytest.fixture(scope="module")
def raw_sandbox():
    """Policy off, `os` and `struct` preloaded: the program really writes to the result pipe."""
    config = SandboxConfig(workers=1, ast_policy=False, preload=("os", "struct"),
                           limits=ExecutionLimits(timeout_s=2.0, memory_mb=128))
    with Sandbox(config) as box:
        yield box


@pytest.mark.parametrize("framing", ["raw", "framed"])
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_result_is_an_exec_error(raw_sandbox, name, framing):
    result = raw_sandbox.run_python(_forge(MALFORMED[name], framing))
    assert result.outcome.status is Status.EXEC_ERROR, (name, framing, result.outcome)
    assert result.outcome.answer is None
    assert isinstance(result.outcome.error, str) and len(result.outcome.error) <= 300
    assert raw_sandbox.run_python("ans = 6 * 7").outcome.answer == 42.0


@pytest.mark.parametrize("framing", ["two frames", "trailing"])
def test_more_than_one_frame_is_an_exec_error(raw_sandbox, framing):
    outcome = raw_sandbox.run_python(_forge(VALID, framing)).outcome
    assert outcome.status is Status.EXEC_ERROR and outcome.answer is None, (framing, outcome)


def test_bad_thought_in_a_verifier_batch_is_that_thoughts_exec_error(tmp_path):
    """`distillery verify`'s code path (verify_file over Verifier.verify_many) with one
    malicious thought among four: the other three are graded, the file is written."""
    import json

    from distillery.verifier.batch import verify_file
    from distillery.verifier.config import VerifierConfig
    from distillery.verifier.verifier import Verifier

    rows = [
        {"id": "a", "thought_type": "pot", "text": "ans = 6 * 7", "gold": 42},
        {"id": "bad", "thought_type": "pot", "text": _forge(MALFORMED["string answer"], "framed"), "gold": 42},
        {"id": "c", "thought_type": "pot", "text": "ans = 2 + 2", "gold": 4},
        {"id": "d", "thought_type": "cot", "text": "So 3 + 4 = 7. The answer is 7.", "gold": 7},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    raw = SandboxConfig(workers=1, ast_policy=False, preload=("os", "struct"),
                        limits=ExecutionLimits(timeout_s=2.0, memory_mb=128))
    with Verifier(VerifierConfig(workers=1), pot_sandbox=raw) as verifier:
        summary = verify_file(source, out, verifier.verify_many)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in written] == ["a", "bad", "c", "d"]
    assert [r["status"] for r in written] == ["ok", "exec_error", "ok", "ok"]
    assert [r["correct"] for r in written] == [True, False, True, True]
    assert written[1]["answer"] is None
    assert summary.total == 4 and sum(summary.correct.values()) == 3
