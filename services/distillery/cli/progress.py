"""The one progress helper: a bar on stderr when it is a terminal, silence otherwise."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import click


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    if not sys.stderr.isatty() or total == 0:
        yield lambda _n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, show_percent=True) as bar:
        yield bar.update
