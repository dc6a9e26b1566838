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


def main() -> None:
    cli(prog_name="harness")
