"""Running programs: results, statuses, limits, isolation report -- real worker processes."""

import concurrent.futures

import pytest

from distillery.core.outcome import Status
from distillery.sandbox import ExecutionLimits, Sandbox, SandboxConfig
from distillery.sandbox.policy import DEFAULT_ALLOWED_IMPORTS


def run(sandbox, source, **kwargs):
    return sandbox.run_python(source, **kwargs).outcome


@pytest.mark.parametrize("source, expected", [
    ("ans = 6 * 7", 42.0),
    ("import math\nans = math.sqrt(2) ** 2", 2.0000000000000004),
    ("from fractions import Fraction\nans = Fraction(7, 2)", 3.5),
    ("from decimal import Decimal\nans = Decimal('2.50') * 2", 5.0),
    ("def solution():\n    return 3 + 4", 7.0),
    ("ans = '1,200'", 1200.0),
    ("ans = complex(5, 0)", 5.0),
])
def test_numeric_results(sandbox, source, expected):
    outcome = run(sandbox, source)
    assert outcome.status is Status.OK, outcome
    assert outcome.answer == pytest.approx(expected)


@pytest.mark.parametrize("source, status, fragment", [
    ("ans = ", Status.PARSE_ERROR, "SyntaxError"),
    ("x = 1", Status.NO_ANSWER, "neither `ans`"),
    ("ans = [1, 2]", Status.NO_ANSWER, "type list"),
    ("ans = True", Status.NO_ANSWER, "bool"),
    ("ans = 'ten'", Status.NO_ANSWER, "non-numeric"),
    ("ans = float('nan')", Status.NO_ANSWER, "not finite"),
    ("ans = 1 / 0", Status.EXEC_ERROR, "ZeroDivisionError"),
    ("x = 1\ny = undefined_name + 1", Status.EXEC_ERROR, "NameError"),
    ("raise SystemExit(3)", Status.EXEC_ERROR, "SystemExit"),
    ("def f():\n    return f()\nans = f()", Status.RESOURCE_LIMIT, "RecursionError"),
])
def test_failures_are_values_with_a_reason(sandbox, source, status, fragment):
    outcome = run(sandbox, source)
    assert outcome.status is status
    assert outcome.answer is None
    assert fragment in outcome.error


def test_print_output_is_captured_and_capped():
    with Sandbox(SandboxConfig(workers=1, limits=ExecutionLimits(max_output_bytes=10))) as box:
        small = box.run_python("print('hello')\nans = 1")
        assert small.stdout == "hello\n" and small.outcome.status is Status.OK
        flood = box.run_python("print('x' * 11)\nans = 1")
        assert flood.outcome.status is Status.RESOURCE_LIMIT


def test_each_program_runs_in_a_fresh_process(sandbox):
    # State left by one program must be invisible to the next, even on the same worker.
    for _ in range(4):
        sandbox.run_python("import math\nmath.pi = 3\nans = 1")
    assert run(sandbox, "import math\nans = math.pi").answer == pytest.approx(3.141592653589793)


def test_wall_clock_limit_stops_a_sleeping_program():
    config = SandboxConfig(workers=1, allowed_imports=(*DEFAULT_ALLOWED_IMPORTS, "time"),
                           limits=ExecutionLimits(timeout_s=0.5, cpu_time_s=10))
    with Sandbox(config) as box:
        result = box.run_python("import time\ntime.sleep(30)\nans = 1")
    assert result.outcome.status is Status.TIMEOUT
    assert "wall-clock" in result.outcome.error
    assert result.wall_ms < 3000


def test_cpu_limit_stops_a_busy_program():
    with Sandbox(SandboxConfig(workers=1, limits=ExecutionLimits(timeout_s=30, cpu_time_s=1))) as box:
        result = box.run_python("while True:\n    pass")
    assert result.outcome.status is Status.TIMEOUT
    assert "CPU" in result.outcome.error
    assert result.wall_ms < 10_000


def test_memory_limit(sandbox):
    outcome = run(sandbox, "block = 'x' * (512 * 1024 * 1024)\nans = len(block)")
    assert outcome.status is Status.RESOURCE_LIMIT


def test_concurrent_callers_get_their_own_answers(sandbox):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda n: run(sandbox, f"ans = {n} * 2"), range(40)))
    assert [o.answer for o in outcomes] == [n * 2.0 for n in range(40)]


def test_isolation_layers_on_this_machine(sandbox):
    # CI runs as root on a Linux VM with Landlock and seccomp: every layer must be in force.
    report = sandbox.isolation
    assert report.missing() == [], report.notes
    assert report.network_namespace and report.seccomp and report.landlock_abi >= 1


def test_config_rejects_bad_values_naming_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="workers"):
        SandboxConfig(workers=0)
    with pytest.raises(ValidationError, match="unknown isolation layer.*no_such_layer"):
        SandboxConfig(require=("no_such_layer",))


def test_requiring_present_layers_starts():
    with Sandbox(SandboxConfig(workers=1, require=("seccomp", "landlock", "network_namespace"))) as box:
        assert box.run_python("ans = 1").outcome.answer == 1.0


def test_in_process_workers_run_only_trusted_calls_and_survive_timeouts():
    config = SandboxConfig(workers=1, fork_per_task=False, preload=("distillery.verifier.eot.solve",),
                           limits=ExecutionLimits(timeout_s=1.0))
    with Sandbox(config) as box:
        solved = box.call("distillery.verifier.eot.solve:solve_eot", "a = 2\nans = 3 * a")
        assert solved.outcome.status is Status.OK and solved.outcome.answer == 6.0
        # Untrusted programs never run without a fresh child.
        refused = box.run_python("ans = 1").outcome
        assert refused.status is Status.UNSAFE and "trusted functions only" in refused.error
        # Only functions of preloaded modules may be called.
        assert box.call("os:getcwd").outcome.status is Status.UNSAFE
        # A solve past its limit costs the worker a restart, and the next call works.
        slow = box.call("distillery.verifier.eot.solve:solve_eot", "(10^40)^x = 10\nans = x").outcome
        assert slow.status is Status.TIMEOUT
        again = box.call("distillery.verifier.eot.solve:solve_eot", "ans = 2 + 2").outcome
        assert again.answer == 4.0
