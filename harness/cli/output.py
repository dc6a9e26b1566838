"""What the commands print: rich consoles on stdout and stderr, the --json line, progress bars."""

from __future__ import annotations

import contextlib
import json

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

stderr = Console(stderr=True, soft_wrap=True)  # log lines stay whole for grep, however long
stdout = Console(soft_wrap=True)


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, sort_keys=True))


@contextlib.contextmanager
def progress(description: str, unit: str):
    """A transient progress bar on stderr; yields the `(done, total)` callback that moves it."""
    bar = Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=stderr,
                   transient=True)
    with bar:
        task = bar.add_task(unit, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
