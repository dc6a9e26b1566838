"""The `harness` command line: the group, its commands (one module per command group) and `main`.

Every command takes --json (one JSON object on the last stdout line) and --verbose (let TensorFlow,
Spark and Java speak). Mistakes in the user's input exit 2 with one line on stderr. TensorFlow is
imported lazily, inside the commands that need it, so that --help stays instant.
"""

from __future__ import annotations

import click

from harness.cli import cluster, data, lth, report, run
from harness.cli.options import HarnessGroup


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Benchmark and profile the lottery-ticket search on MobileNetV2."""


for command in (run.variants, run.run, report.report, report.compare, lth.lth, data.data, cluster.plan,
                cluster.slurm):
    cli.add_command(command)


def main() -> int:
    """Run the command line; every mistake in the input, click's own included, is one line and exit 2."""
    try:
        code = cli.main(prog_name="harness", standalone_mode=False)
    except click.UsageError as error:  # click would print the usage block, a hint and the error
        where = error.ctx.command_path if error.ctx else "harness"
        click.echo(f"Error: {error.format_message()} (see `{where} --help`)", err=True)
        return error.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return code if isinstance(code, int) else 0
