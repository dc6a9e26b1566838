"""What a run record says about the machine: CPU, cores, GPUs, library versions and git commit.

Library versions are read from the installed distributions' metadata (None where one is absent), so
listing one costs no import: both Keras backends are listed (tensorflow; jax and jaxlib, with the
`jax-cuda*` plugin that gives JAX its GPUs, under whatever name the installed one has).
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

import psutil

from pipelines.gpus import list_gpus

LIBRARIES = ("tensorflow", "keras", "jax", "jaxlib", "numpy", "pyspark", "elephas", "mpi4py", "pillow",
             "nvidia-ml-py")
PLUGIN_PREFIXES = ("jax-cuda", "jax_cuda")  # JAX's GPU plugins: jax-cuda12-plugin, jax-cuda12-pjrt, ...
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str | None]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"] or ""
        if name.lower().startswith(PLUGIN_PREFIXES):
            versions[name.lower().replace("_", "-")] = distribution.version
    return versions


def git_commit() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def describe_machine() -> dict:
    return {
        "host": socket.gethostname(),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_bytes": psutil.virtual_memory().total,
        "gpus": list_gpus(),
        "python": platform.python_version(),
        "libraries": library_versions(),
        "git": git_commit(),
    }
