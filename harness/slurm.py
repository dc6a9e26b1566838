"""`harness slurm render`: the job templates in slurm/ filled into plain sbatch scripts.

Each template runs this project's own commands (`harness lth`, `harness data preprocess`) from the
venv it was rendered with, so a script a user reads is the command they would type, plus #SBATCH
lines. The search folder lives under --scratch, a shell expression evaluated on the node (the
default follows $SCRATCH), so that every rank and array task sees the same files.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from harness.machine import PROJECT_ROOT
from pipelines.errors import UserInputError

TEMPLATES = PROJECT_ROOT / "slurm"
KINDS = {
    "train-4gpu": "dense training on one node with four GPUs, then the masks (--prepare-only)",
    "sweep-mpi": "the tickets as MPI ranks over N nodes, one rank per GPU, started by srun",
    "spark-cluster": "a Spark standalone cluster inside the allocation, running the offline preprocessing",
    "sweep-array": "the tickets as a job array, one GPU per task, each task a shard of the plan",
}
DEFAULT_NODES = {"train-4gpu": 1, "sweep-mpi": 20, "spark-cluster": 4, "sweep-array": 1}


@dataclass(frozen=True)
class JobOptions:
    kind: str
    nodes: int | None = None  # default per kind: DEFAULT_NODES
    gpus_per_node: int = 4
    tasks_per_node: int | None = None  # default: one per GPU, or 1 without GPUs
    cpus_per_task: int | None = None
    partition: str | None = None
    account: str | None = None
    time: str = "24:00:00"
    job_name: str | None = None
    scratch: str = "${SCRATCH:-$HOME}/lth-harness"
    search: str = "search"  # the folder under --scratch
    array_tasks: int = 100
    max_concurrent: int | None = None
    spark_port: int = 7077
    lth: dict = field(default_factory=dict)  # data, workload, epochs, rewinds, sparsities, scope, seed

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise UserInputError(f"unknown job template {self.kind!r}: choose one of {', '.join(KINDS)}")
        for name in ("nodes", "tasks_per_node", "cpus_per_task", "array_tasks", "max_concurrent"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserInputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.gpus_per_node < 0:
            raise UserInputError("--gpus-per-node must be 0 (CPU nodes) or more")
        if self.kind == "train-4gpu" and self.gpus_per_node not in (0, 1, 4):
            raise UserInputError("train-4gpu trains on 4 GPUs (gpu4), 1 (gpu1) or none (cpu): "
                                 f"--gpus-per-node {self.gpus_per_node} is none of these")
        if any(c in self.scratch + self.search for c in '"`\n'):
            raise UserInputError("--scratch and --search may not contain double quotes, backquotes or newlines")

    @property
    def device(self) -> str:
        return {0: "cpu", 1: "gpu1", 4: "gpu4"}[self.gpus_per_node]


def lth_arguments(lth: dict) -> str:
    """The grid as `harness lth` options, shell-quoted."""
    args = ["--data", str(Path(lth["data"]).resolve()), "--workload", lth["workload"], "--epochs", str(lth["epochs"]),
            "--rewind", ",".join(map(str, lth["rewinds"])), "--scope", lth["scope"], "--seed", str(lth["seed"])]
    if lth.get("sparsities"):
        args += ["--sparsity", ",".join(map(str, lth["sparsities"]))]
    return shlex.join(args)


def render(options: JobOptions) -> str:
    options.validate()
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True, trim_blocks=False)
    environment.filters["q"] = lambda value: shlex.quote(str(value))
    from pipelines.train.workloads import get_workload

    nodes = options.nodes or DEFAULT_NODES[options.kind]
    return environment.get_template(f"{options.kind}.sbatch.j2").render(
        kind=options.kind, rendered_on=time.strftime("%Y-%m-%d"), job_name=options.job_name or f"lth-{options.kind}",
        partition=options.partition, account=options.account, time=options.time, nodes=nodes,
        gpus_per_node=options.gpus_per_node, tasks_per_node=options.tasks_per_node or max(options.gpus_per_node, 1),
        cpus_per_task=options.cpus_per_task, array_tasks=options.array_tasks, max_concurrent=options.max_concurrent,
        spark_port=options.spark_port, project=PROJECT_ROOT, harness=Path(sys.executable).with_name("harness"),
        out=f'"{options.scratch}/{options.search}"', lth_args=lth_arguments(options.lth),
        device=options.device if options.kind == "train-4gpu" else "cpu",
        rank_device="gpu1" if options.gpus_per_node else "cpu", data=str(Path(options.lth["data"]).resolve()),
        image_size=get_workload(options.lth["workload"]).image_size,
    )
