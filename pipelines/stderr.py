"""Muting what native code (TensorFlow's C++ runtime, the JVM behind Spark) writes to stderr.

A command that is not `--verbose` sets QUIET_ENV, so that the processes it starts (pool workers, MPI
ranks' children) load TensorFlow as quietly as the command itself did (`load_tensorflow`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings

QUIET_ENV = "LTH_HARNESS_QUIET"


@contextlib.contextmanager
def native_stderr_muted(active: bool = True):
    """Point file descriptor 2 at /dev/null; child processes started meanwhile keep it so."""
    if not active:
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_wanted() -> bool:
    """Whether the command that started this process silenced the libraries' logs."""
    return os.environ.get(QUIET_ENV) == "1"


def quiet_python_logs() -> None:
    """Python's warnings and the libraries' Python loggers, errors only."""
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "keras", "jax", "py4j", "pyspark", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def quiet_worker(backend: str) -> None:
    """In a process a quiet command started, where it places its first model on `backend` (after a
    pool worker's GPUs are bound): as quiet as the command. Nothing otherwise: a job that never
    trains (a toy job) never loads TensorFlow, and a JAX training loads it only if its data side
    does (unmuted then: left alone). In the command's own process TensorFlow is loaded already."""
    if quiet_wanted():
        quiet_python_logs()
        if backend == "tensorflow":
            load_tensorflow(quiet=True)


def load_tensorflow(quiet: bool) -> bool:
    """Import TensorFlow, where it is installed, and have it look for GPUs now, muted when `quiet`:
    CUDA's initialization logs through absl (a failed `cuInit` on a machine without a GPU, say),
    deaf to TF_CPP_MIN_LOG_LEVEL, and would otherwise do so at the first tf.data op, outside any
    muting. Listing devices configures none, so logical devices can still be set afterwards. Call
    after a worker's GPUs are bound. Whether TensorFlow is installed."""
    with native_stderr_muted(active=quiet):
        try:
            import tensorflow as tf
        except ImportError:
            return False
        if quiet:
            tf.get_logger().setLevel(logging.ERROR)
        tf.config.list_physical_devices("GPU")
    return True
