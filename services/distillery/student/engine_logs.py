"""Where the generation engines' own log lines go: a log file, not the user's terminal.

vLLM logs dozens of INFO / WARNING lines per engine start, from this process and from its
engine-core process; on stderr they bury a command's progress and result (and flood
``jobs logs``). Before an engine is imported, :func:`route_engine_logs` points vLLM's logging
at a file through its own ``VLLM_LOGGING_CONFIG_PATH`` (inherited by the engine processes) and
turns transformers' chatter down to errors; :func:`engine_output_to` sends what is printed
while the engine starts (torch's C++ warnings, progress bars, Python warnings) to the same
file -- for good in the engine's own processes, which inherit it. ``--verbose`` leaves
everything on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LOG_DIR_ENV = "DISTILLERY_ENGINE_LOG_DIR"


def engine_log_dir() -> Path:
    """``$DISTILLERY_ENGINE_LOG_DIR``, else ``$DISTILLERY_HOME/logs``, else ``~/.distillery/logs``."""
    explicit = os.environ.get(LOG_DIR_ENV)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("DISTILLERY_HOME", Path.home() / ".distillery")).expanduser() / "logs"


def vllm_logging_config(log_file: Path) -> dict:
    """A ``logging.config.dictConfig`` sending vLLM's records (INFO and up) to ``log_file`` only."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log_file), "mode": "a",
                              "formatter": "plain", "level": "INFO"}},
        "loggers": {"vllm": {"handlers": ["file"], "level": "INFO", "propagate": False}},
    }


def route_engine_logs(verbose: bool, name: str = "engine") -> Path | None:
    """Unless ``verbose``, send the engines' logs to a new file under :func:`engine_log_dir` and
    return its path (None when verbose). Call before vLLM is imported; a second call keeps the
    first file (the engines read the setting once)."""
    if verbose:
        return None
    current = os.environ.get("VLLM_LOGGING_CONFIG_PATH")
    if current and os.environ.get("DISTILLERY_ENGINE_LOG"):
        return Path(os.environ["DISTILLERY_ENGINE_LOG"])
    directory = engine_log_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: the temporary directory still takes a log
        directory = Path(tempfile.gettempdir())
    log_file = directory / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    config_file = log_file.with_suffix(".logging.json")
    config_file.write_text(json.dumps(vllm_logging_config(log_file)))
    os.environ["VLLM_CONFIGURE_LOGGING"] = "1"
    os.environ["VLLM_LOGGING_CONFIG_PATH"] = str(config_file)
    os.environ["DISTILLERY_ENGINE_LOG"] = str(log_file)
    # transformers' and tokenizers' warnings (generation flags, fork after parallelism) are
    # about the engine, not the user's command.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return log_file


@contextlib.contextmanager
def engine_output_to(log_file: Path | None) -> Iterator[None]:
    """File descriptors 1 and 2 point at ``log_file`` inside the block (nothing changes for None).
    Processes started inside keep it; this process gets its stdout and stderr back after."""
    if log_file is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_file, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, original in zip((1, 2), saved):
            os.dup2(original, fd)
            os.close(original)
