"""Escape attempts, each contained -- and the sandbox still answering afterwards.

Two rounds:
  * with the AST policy on (the service default): refused up front as ``unsafe``;
  * with the policy OFF and the dangerous modules preloaded, so the program really
    reaches the OS: the kernel layers (seccomp, Landlock, network namespace, rlimits,
    privilege drop) must contain it on their own.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from distillery.core.outcome import Status
from distillery.sandbox import ExecutionLimits, Sandbox, SandboxConfig

DANGEROUS_MODULES = ("os", "socket", "subprocess", "threading", "signal", "resource", "ctypes", "multiprocessing")


@pytest.fixture(scope="module")
def listener():
    """A real TCP listener on loopback that records any connection a program manages to make."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections: list = []
    stop = threading.Event()

    def accept_loop():
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def raw_sandbox():
    """No AST policy, dangerous modules importable: only the OS layers stand in the way."""
    config = SandboxConfig(workers=2, ast_policy=False, preload=DANGEROUS_MODULES,
                           limits=ExecutionLimits(timeout_s=2.0, memory_mb=128))
    with Sandbox(config) as box:
        yield box


POLICY_CASES = {
    "import os": "import os\nans = len(os.listdir('/'))",
    "dynamic import": "m = __import__('os')\nans = 1",
    "subclasses walk": "ans = len(().__class__.__mro__[1].__subclasses__())",
    "function globals": "def f():\n    pass\nans = f.__globals__",
    "getattr string": "ans = getattr(getattr, '__self__')",
    "format attribute walk": "ans = '{0.__class__.__init__.__globals__}'.format(1)",
    "open file": "ans = len(open('/etc/hostname').read())",
    "eval": "ans = eval('2 + 2')",
    "compile": "ans = compile('1', 'x', 'eval')",
    "builtins dict": "ans = __builtins__",
    "importlib": "import importlib\nans = 1",
    "ctypes": "import ctypes\nans = 1",
    "sympy string injection": "import sympy\nans = sympy.sympify(\"__import__('os').system('id')\")",
}


@pytest.mark.parametrize("name", sorted(POLICY_CASES))
def test_policy_refuses(sandbox, name):
    outcome = sandbox.run_python(POLICY_CASES[name]).outcome
    assert outcome.status is Status.UNSAFE, outcome
    assert outcome.error


def test_network_is_unreachable_even_without_the_policy(raw_sandbox, listener):
    port, connections = listener
    program = (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
               "s.sendall(b'escaped')\nans = 1")
    outcome = raw_sandbox.run_python(program).outcome
    assert outcome.status in (Status.UNSAFE, Status.EXEC_ERROR), outcome
    assert outcome.answer is None
    assert connections == []


@pytest.mark.parametrize("name, program", [
    ("fork", "import os\npid = os.fork()\nans = 1"),
    ("fork bomb", "import os\nwhile True:\n    os.fork()"),
    ("subprocess", "import subprocess\nsubprocess.run(['/bin/true'])\nans = 1"),
    ("exec", "import os\nos.execv('/bin/sh', ['sh', '-c', 'true'])"),
    ("thread", "import threading\nthreading.Thread(target=print).start()\nans = 1"),
    ("kill parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nans = 1"),
    ("kill every process", "import os, signal\nos.kill(-1, signal.SIGKILL)\nans = 1"),
    ("raise own limits", "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1000, 1000))\nans = 1"),
    ("multiprocessing", "import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\nans = 1"),
])
def test_process_and_signal_escapes_are_stopped_by_the_kernel(raw_sandbox, name, program):
    outcome = raw_sandbox.run_python(program).outcome
    assert outcome.status in (Status.UNSAFE, Status.EXEC_ERROR), (name, outcome)
    assert outcome.answer is None


def test_writes_outside_the_private_temp_dir_fail(raw_sandbox, tmp_path):
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)
    outcome = raw_sandbox.run_python(f"open({str(target)!r}, 'w').write('x')\nans = 1").outcome
    assert outcome.status is Status.EXEC_ERROR and "Permission" in outcome.error
    assert not target.exists()
    # ...while its own working directory is writable, and empty to start with.
    inside = raw_sandbox.run_python(
        "import os\nassert os.listdir('.') == []\nopen('scratch.txt', 'w').write('12')\nans = open('scratch.txt').read()"
    ).outcome
    assert inside.status is Status.OK and inside.answer == 12.0


def test_secrets_on_disk_and_in_the_environment_are_out_of_reach(raw_sandbox, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t")
    os.chmod(tmp_path, 0o755)
    os.chmod(secret, 0o644)
    read = raw_sandbox.run_python(f"ans = len(open({str(secret)!r}).read())").outcome
    assert read.status is Status.EXEC_ERROR and "Permission" in read.error
    os.environ["DISTILLERY_TOKEN"] = "s3cr3t"
    try:
        env = raw_sandbox.run_python("import os\nans = int('DISTILLERY_TOKEN' in os.environ)").outcome
    finally:
        del os.environ["DISTILLERY_TOKEN"]
    assert env.answer == 0.0


@pytest.mark.parametrize("name, program, status", [
    ("memory bomb", "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))", Status.RESOURCE_LIMIT),
    ("huge allocation", "x = 'a' * (10**10)\nans = 1", Status.RESOURCE_LIMIT),
    ("infinite loop", "while True:\n    pass", Status.TIMEOUT),
    ("ignore CPU signal then spin",
     "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
     "while True:\n    pass", Status.TIMEOUT),
    ("sleep forever", "import time\ntime.sleep(3600)", Status.TIMEOUT),
    ("output flood through fd 1", "import os\nwhile True:\n    os.write(1, b'x' * 65536)", Status.TIMEOUT),
    ("print flood", "while True:\n    print('x' * 1000)", Status.RESOURCE_LIMIT),
    ("huge file", "f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 65536)", Status.EXEC_ERROR),
])
def test_resource_exhaustion_is_contained(raw_sandbox, name, program, status):
    outcome = raw_sandbox.run_python(program).outcome
    assert outcome.status is status, (name, outcome)


def test_sandbox_still_answers_after_every_attack(raw_sandbox, sandbox):
    for box in (raw_sandbox, sandbox):
        assert box.run_python("ans = 2 + 2").outcome.answer == 4.0
        assert box.restarts == 0  # no worker was taken down


@pytest.mark.parametrize("text", [
    "ans = __import__('os').system('touch {marker}')",
    "x = 1\nans = eval(\"__import__('os').system('touch {marker}')\")",
    "ans = Symbol('x').__class__.__init__.__globals__['os'].system('touch {marker}')",
    "ans = sympify(\"__import__('os').system('touch {marker}')\")",
    "% lambda: exec\nans = (lambda: __import__('os').system('touch {marker}'))()",
])
def test_sympy_string_injection_in_eot_has_no_effect(verifier, tmp_path, text):
    marker = tmp_path / "pwned"
    outcome = verifier.answer("eot", text.format(marker=marker))
    assert outcome.status is not Status.OK
    assert not marker.exists()
