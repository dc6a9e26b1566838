"""The `harness` command line: the group, its commands (one module per command group) and `main`.

Every command takes --json (one JSON object on the last stdout line) and --verbose (let TensorFlow,
Spark and Java speak). Mistakes in the user's input exit 2 with one line on stderr. A command's
module is imported only when it runs (`COMMANDS`), and TensorFlow only inside the commands that need
it, so that --help and the commands that train nothing start at once.
"""

from __future__ import annotations

import click

from harness.cli.options import HarnessGroup
from pipelines import faults
from pipelines.stop import STOPPED_STATUS, Stopped, received, stop_on_signals

COMMANDS = {"variants": "harness.cli.run:variants", "run": "harness.cli.run:run", "report": "harness.cli.report:report",
            "compare": "harness.cli.report:compare", "lth": "harness.cli.lth:lth", "data": "harness.cli.data:data",
            "plan": "harness.cli.cluster:plan", "slurm": "harness.cli.cluster:slurm"}


@click.group(cls=HarnessGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Benchmark and profile the lottery-ticket search on MobileNetV2."""


def _stopped(stop: Stopped) -> int:
    click.echo(f"stopped by {stop.name}: what finished is kept; run the same command again to continue", err=True)
    return STOPPED_STATUS


def main() -> int:
    """Run the command line; every mistake in the input, click's own included, is one line and exit 2;
    a stop signal is one line and STOPPED_STATUS (pipelines.stop); a fault of the machine a person
    can fix (a full disk, a read-only filesystem, too few file descriptors) is one line and exit 1."""
    stop_on_signals()
    problem = faults.raise_open_file_limit()
    if problem:
        click.echo(f"Error: {problem}", err=True)
        return 1
    try:
        code = cli.main(prog_name="harness", standalone_mode=False)
    except Stopped as stop:
        return _stopped(stop)
    except click.UsageError as error:  # click would print the usage block, a hint and the error
        where = error.ctx.command_path if error.ctx else "harness"
        click.echo(f"Error: {error.format_message()} (see `{where} --help`)", err=True)
        return error.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:  # click's prompts turn Ctrl-C into this
        click.echo("Aborted!", err=True)
        return STOPPED_STATUS
    except Exception as error:
        if received() is not None:  # the stop, mangled by native code it was raised in
            return _stopped(received())
        line = faults.describe(error)
        if line is None:
            raise  # a bug: its traceback is what a report needs
        click.echo(f"Error: {line}", err=True)
        return 1
    return code if isinstance(code, int) else 0
