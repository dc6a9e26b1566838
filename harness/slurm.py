"""`harness slurm render`: the job templates in slurm/ filled into plain sbatch scripts.

Each template runs this project's own commands (`harness lth`, `harness data preprocess`) from the
venv it was rendered with, so a script a user reads is the command they would type, plus #SBATCH
lines. Every `harness lth` in a script runs the whole search the person asked for: its options are
harness.cli.lth.lth_arguments of the LthConfig that `harness lth` itself would build from them
(harness.cli.lth.search_config), and the template adds only where and how it runs (--device, --out,
the executor, --shard). The search folder lives under --scratch, a shell expression evaluated on the
node (the default follows $SCRATCH), so that every rank and array task sees the same files.

Every value that reaches a script is checked before rendering, because a script is code: a newline
in a value would start a line of its own (a command, or the end of the #SBATCH header, after which
sbatch ignores the resources), so no value may hold a control character (the search's values are
checked where lth_arguments writes them). Values in #SBATCH lines keep to characters sbatch reads as
one word (`SBATCH_WORD`); --scratch keeps to `$NAME`, `${NAME}` and `${NAME:-default}` expansions,
which read variables but run nothing; every other value is shell-quoted where it lands.
"""

from __future__ import annotations

import re
import shlex
import stat
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness.machine import PROJECT_ROOT
from pipelines import atomic
from pipelines.errors import UserInputError
from pipelines.lth.config import LthConfig
from pipelines.registry import Registry
from pipelines.settings import setting
from pipelines.train.fits import FitSettings
from pipelines.train.placement import DEVICES, device_with_gpus

TEMPLATES = PROJECT_ROOT / "slurm"
KINDS: Registry[int] = Registry("job template")  # kind (slurm/<kind>.sbatch.j2) -> its default node count
KINDS.add("train-4gpu", 1, "dense training on one node with four GPUs, then the masks (--prepare-only)")
KINDS.add("sweep-mpi", 20, "the tickets as MPI ranks over N nodes, one rank per GPU, started by srun")
KINDS.add("spark-cluster", 4, "a Spark standalone cluster inside the allocation, running the offline preprocessing")
KINDS.add("sweep-array", 1, "the tickets as a job array, one GPU per task, each task a shard of the plan")

SBATCH_WORD = "letters, digits and . _ - +"  # no space, quote, #, % or /: sbatch reads it as one plain word
_SBATCH_VALUES = {  # option: (pattern, what it may hold)
    "--job-name": (r"[A-Za-z0-9._+-]+", SBATCH_WORD),
    "--account": (r"[A-Za-z0-9._+-]+", SBATCH_WORD),
    "--partition": (r"[A-Za-z0-9._+-]+(,[A-Za-z0-9._+-]+)*", SBATCH_WORD + ", with commas between partitions"),
    "--time": (r"([0-9]+(-[0-9]+)?(:[0-9]+){0,2}|(?i:UNLIMITED|INFINITE))",
               "a SLURM time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED"),
}
_SCRATCH_TOKEN = re.compile(r"""
    (?P<text>[^"`\\${}]+)                                      # plain characters, literal in double quotes
  | (?P<name>\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})  # $NAME, ${NAME}
  | (?P<open>\$\{[A-Za-z_][A-Za-z0-9_]*:?-)                    # ${NAME:- or ${NAME- : a default follows
  | (?P<close>\})                                              # the end of a default
""", re.VERBOSE)
_COUNTS = {  # JobOptions field: the least value
    "nodes": 1, "gpus_per_node": 0, "tasks_per_node": 1, "cpus_per_task": 1, "array_tasks": 1,
    "max_concurrent": 1, "spark_port": 1, "warning": 2,
}


@dataclass(frozen=True)
class JobOptions:
    kind: str
    nodes: int | None = setting(None, "Nodes (default per kind: train-4gpu 1, sweep-mpi 20, spark-cluster 4).")
    gpus_per_node: int = setting(4, "0 for CPU-only nodes.")
    tasks_per_node: int | None = setting(None, "sweep-mpi ranks per node (default: one per GPU, or 1).")
    cpus_per_task: int | None = setting(None)
    partition: str | None = setting(None)
    account: str | None = setting(None)
    time: str = setting("24:00:00", "A SLURM time limit.")
    job_name: str | None = setting(None, "Default: lth-KIND.")
    scratch: str = setting("${SCRATCH:-$HOME}/lth-harness",
                           "Shared folder for the search, a shell expression evaluated on the node.")
    search: str = setting("search", "The search's folder under --scratch (a literal name).")
    array_tasks: int = setting(100, "sweep-array: tasks in the array.")
    max_concurrent: int | None = setting(None, "sweep-array: tasks running at once (%N).")
    warning: int = setting(120, "Seconds before the time limit at which SLURM warns the job (USR1): every training "
                                "saves its state, and the job requeues itself to continue.")
    spark_port: int = 7077

    def validate(self) -> None:
        KINDS.entry(self.kind)
        self._check_counts()
        if self.device is None:
            raise UserInputError(f"{self.kind} trains on {_devices_by_gpus()}: "
                                 f"--gpus-per-node {self.gpus_per_node} is none of these")
        self._check_texts()
        check_scratch(self.scratch)

    def _check_texts(self) -> None:
        """No control character anywhere; the #SBATCH values each one plain word (an empty partition,
        account or job name is left out of the script, as if not given)."""
        given = {"--partition": self.partition or None, "--account": self.account or None,
                 "--job-name": self.job_name or None, "--time": self.time, "--scratch": self.scratch,
                 "--search": self.search}
        texts = {option: str(value) for option, value in given.items() if value is not None}
        for option, value in texts.items():
            refuse_control_characters(option, value)
        for option, (pattern, allowed) in _SBATCH_VALUES.items():
            value = texts.get(option)
            if value is not None and not re.fullmatch(pattern, value, re.ASCII):
                raise UserInputError(f"{option} {value!r} is not {allowed}: sbatch would misread its line")

    def _check_counts(self) -> None:
        """Whole numbers at or above their least value: they land unquoted in #SBATCH lines and comments."""
        for name, least in _COUNTS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if type(value) is not int:
                raise UserInputError(f"--{name.replace('_', '-')} takes a whole number, got {value!r}")
            if value < least:
                raise UserInputError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")

    @property
    def device(self) -> str | None:
        """Where the script's `harness lth` trains: on all the node's GPUs (train-4gpu), one GPU or the CPU
        per rank or task (the sweeps), the CPU of each Spark worker (spark-cluster's Elephas sweep)."""
        gpus = {"train-4gpu": self.gpus_per_node, "spark-cluster": 0}.get(self.kind, min(self.gpus_per_node, 1))
        return device_with_gpus(gpus)

    @property
    def fit(self) -> FitSettings:
        """How the script's `harness lth` fits each ticket: with Elephas over spark-cluster's nodes."""
        if self.kind == "spark-cluster":
            return FitSettings("elephas", self.nodes or KINDS[self.kind])
        return FitSettings()


def _devices_by_gpus() -> str:
    """The registered devices as GPU counts, most first: "4 GPUs (gpu4), 1 (gpu1) or none (cpu)"."""
    entries = sorted(DEVICES.entries(), key=lambda e: -e.value.gpus)
    words = [f"{e.value.gpus or 'none'} ({e.name})" for e in entries]
    words[0] = words[0].replace(" (", " GPUs (", 1) if entries[0].value.gpus else words[0]
    return ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else words[0]


def refuse_control_characters(option: str, value: str) -> None:
    """A newline (or CR, tab, any other control character) would end a script line inside a value."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise UserInputError(f"{option} {value!r} holds a control character (newline, tab, ...): "
                             "give it without one")


def check_scratch(scratch: str) -> None:
    """--scratch lands inside double quotes: it may read variables ($NAME, ${NAME}, ${NAME:-default},
    nested) but nothing that runs a command or ends the quotes ($( ), backquotes, quotes, backslashes)."""
    depth, position = 0, 0
    while position < len(scratch):
        token = _SCRATCH_TOKEN.match(scratch, position)
        if token is None or (token.lastgroup == "close" and depth == 0):
            break
        depth += {"open": 1, "close": -1}.get(token.lastgroup, 0)
        position = token.end()
    if position < len(scratch) or depth or not scratch:
        raise UserInputError(f"--scratch {scratch!r} is not a folder expression: use plain characters and "
                             "$NAME, ${NAME} or ${NAME:-default} (no quotes, backquotes, backslashes, $( ) or "
                             "braces of their own)")


def render(options: JobOptions, config: LthConfig, lth_args: str) -> str:
    """The script for `options` whose `harness lth` runs `config`: the search as harness.cli.lth.search_config
    builds it for `options.device` and `options.fit`, `lth_args` its options (harness.cli.lth.lth_arguments)."""
    options.validate()
    config.validate()
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True, trim_blocks=False)
    environment.filters["q"] = lambda value: shlex.quote(str(value))
    nodes = options.nodes or KINDS[options.kind]
    return environment.get_template(f"{options.kind}.sbatch.j2").render(
        kind=options.kind, rendered_on=time.strftime("%Y-%m-%d"), job_name=options.job_name or f"lth-{options.kind}",
        partition=options.partition, account=options.account, time=options.time, nodes=nodes,
        gpus_per_node=options.gpus_per_node, tasks_per_node=options.tasks_per_node or max(options.gpus_per_node, 1),
        cpus_per_task=options.cpus_per_task, array_tasks=options.array_tasks, max_concurrent=options.max_concurrent,
        spark_port=options.spark_port, project=PROJECT_ROOT, harness=Path(sys.executable).with_name("harness"),
        scratch=options.scratch, search=options.search, lth_args=lth_args, device=options.device, data=config.data,
        image_size=config.training_workload.image_size, warning=options.warning, grace=grace(options.warning),
    )


def grace(warning: int) -> int:
    """The seconds a script's `harness lth` gets to save after SLURM's warning (`--grace`): half of
    the warning, so that the job requeues itself well before the time limit's SIGKILL."""
    return max(1, warning // 2)


def write_script(path: Path, text: str) -> None:
    """Write the script atomically: one that replaces a file keeps that file's mode (its owner chose it),
    a new one is executable (0755 less the umask)."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o755 & atomic.new_file_mode(executable=True)
    atomic.write_bytes(path, text.encode(), mode)
