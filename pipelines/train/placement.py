"""Where training runs: a device choice becomes this process's backend, devices, strategy and global batch.

On TensorFlow, `cpu` uses TensorFlow's default strategy; `gpu1` a OneDeviceStrategy on the first GPU;
`gpu4` a MirroredStrategy over four GPUs. On JAX, `cpu` sets no distribution, and `gpu1` and `gpu4`
a `keras.distribution.DataParallel` over one and four devices. Without the GPUs a choice needs,
`logical_devices=N` splits the CPU into N logical devices (TensorFlow's logical devices, JAX's host
platform devices) and runs the very same code on them: that is how the tests exercise `gpu4`, and
such a placement is labelled logical everywhere so that it is never read as a GPU figure.

`place` configures the process, so it comes before anything else runs an op: it selects the backend
(pipelines.backend), and logical devices, thread counts and deterministic ops must all be set before
TensorFlow runs its first op or JAX starts its first backend.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

from pipelines.capacity import THREADS_HELP
from pipelines import backend
from pipelines.backend import BACKENDS, DEFAULT as DEFAULT_BACKEND
from pipelines.errors import UserInputError
from pipelines.registry import Registry
from pipelines.stderr import quiet_worker
from pipelines.settings import setting

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JAX_DETERMINISM_FLAG = "--xla_gpu_deterministic_ops=true"


@dataclass(frozen=True)
class Device:
    gpus: int  # 0: the CPU; 1: one GPU; more: that many in sync (data-parallel)


DEVICES: Registry[Device] = Registry("device")
DEVICES.add("cpu", Device(0), "train on the CPU")
DEVICES.add("gpu1", Device(1), "train on one GPU (OneDeviceStrategy, or DataParallel on JAX)")
DEVICES.add("gpu4", Device(4), "train on four GPUs (MirroredStrategy, or DataParallel on JAX)")


def device_with_gpus(gpus: int) -> str | None:
    """The device that trains on exactly `gpus` GPUs, if one is registered."""
    return next((e.name for e in DEVICES.entries() if e.value.gpus == gpus), None)


def larger_device(name: str) -> str | None:
    """The registered device with the fewest GPUs above `name`'s: the next step up in compute."""
    above = [e for e in DEVICES.entries() if e.value.gpus > DEVICES[name].gpus]
    return min(above, key=lambda e: e.value.gpus).name if above else None


@dataclass(frozen=True)
class PlacementSpec:
    backend: str = setting(DEFAULT_BACKEND, "The Keras backend that trains.", choices=BACKENDS)
    device: str = setting("cpu", "Where training runs.", choices=DEVICES)
    logical_devices: int | None = setting(
        None, "Run a GPU placement on N logical CPU devices (labelled so, never a GPU figure).")
    precision: str = setting("float32", "Mixed precision needs GPUs.", choices=lambda: PRECISIONS)
    jit: bool = setting(False, "XLA-compile TensorFlow's training step (GPUs; on JAX every step is).")
    threads: int | None = setting(None, "TensorFlow threads per job (default: all cores; multiprocessing and mpi: "
                                        f"cores / workers). JAX uses every core. {THREADS_HELP}")  # intra-op; inter-op is 2

    def validate(self) -> None:
        BACKENDS.entry(self.backend)
        needed = DEVICES[self.device].gpus
        if self.precision not in PRECISIONS:
            raise UserInputError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.threads is not None and self.threads < 1:
            raise UserInputError("--threads must be at least 1")
        if self.logical_devices is not None and needed == 0:
            raise UserInputError("--logical-devices stands in for the GPUs of gpu1 or gpu4: the cpu placement "
                                 "runs on the CPU already, so leave it out")
        if self.logical_devices is not None and self.logical_devices < needed:
            raise UserInputError(f"--logical-devices {self.logical_devices} is fewer than the {needed} {self.device} needs")
        if self.jit and self.backend == "jax":
            raise UserInputError("--jit: on JAX every training step is XLA-compiled already, so leave it out")
        if (self.precision != "float32" or self.jit) and (needed == 0 or self.logical_devices is not None):
            raise UserInputError("mixed --precision and --jit apply to GPUs; this placement runs on the CPU")


@dataclass(frozen=True)
class KerasDistribution:
    """A `keras.distribution` in the place of a tf.distribute strategy (what callers use of one)."""

    distribution: object | None  # None: no distribution, JAX's default device

    @property
    def num_replicas_in_sync(self) -> int:
        return self.distribution.num_model_replicas if self.distribution else 1

    @contextlib.contextmanager
    def scope(self):
        """Make this the process's distribution, and leave it so after the block.

        Keras' JAX trainer reads the process's distribution when `fit` and `evaluate` run, which is
        outside this scope, and `keras.backend.clear_session()` forgets it; every model is built in
        this scope, after any clear_session, so building sets it again for the fits that follow."""
        import keras

        keras.distribution.set_distribution(self.distribution)
        yield


@dataclass(frozen=True)
class Placement:
    spec: PlacementSpec
    strategy: object  # a tf.distribute strategy, or a KerasDistribution: `.scope()`, `.num_replicas_in_sync`
    devices: tuple[str, ...]
    logical: bool  # logical CPU devices stand in for GPUs
    deterministic: bool = False  # deterministic ops asked for (`place(..., deterministic=True)`)

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    @property
    def jit(self) -> bool:
        """Whether the training step is XLA-compiled: with --jit on TensorFlow, always on JAX."""
        return self.spec.jit or self.spec.backend == "jax"

    @property
    def threads(self) -> int | None:
        """The intra-op threads this process's training runs with; None: every core. A thread share
        applies on TensorFlow only: XLA's CPU client sizes its pool by itself, with no setting for it."""
        return self.spec.threads if self.spec.backend == "tensorflow" else None

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def describe(self) -> dict:
        jax = self.spec.backend == "jax"
        return {
            "backend": self.spec.backend,
            "device": self.spec.device,
            "replicas": self.replicas,
            "devices": list(self.devices),
            "logical": self.logical,
            "precision": self.spec.precision,
            "jit": self.jit,
            **({"xla": "always on JAX"} if jax else {}),
            "deterministic": self.deterministic,
            "threads": self.threads,
            **({"threads_not_applied": self.spec.threads} if jax and self.spec.threads else {}),
            "label": label(self.spec.device, self.logical),
        }


def label(device: str, logical: bool) -> str:
    """How reports name a placement: logical stand-ins say so."""
    return f"{device} on logical CPU devices (not a GPU measurement)" if logical else device


@functools.cache
def place(spec: PlacementSpec, deterministic: bool = False) -> Placement:
    """The placement for `spec`, made once per process (logical devices can be configured only once).

    Selects the spec's backend (refused if Keras already runs another). `deterministic` makes the
    ops deterministic: TensorFlow's op determinism; on JAX, XLA on the CPU is deterministic already
    and GPUs get `--xla_gpu_deterministic_ops`, which XLA reads when JAX starts its backends, the
    first time devices are listed, here."""
    spec.validate()
    backend.select(spec.backend, host_devices=spec.logical_devices)
    quiet_worker(spec.backend)  # in a process a quiet command started (a pool worker): as muted as there
    needed = DEVICES[spec.device].gpus
    logical = spec.logical_devices is not None
    on = _on_jax if spec.backend == "jax" else _on_tensorflow
    strategy, devices = on(spec, needed, logical, deterministic)
    return Placement(spec, strategy, devices, logical, deterministic)


def _on_tensorflow(spec: PlacementSpec, needed: int, logical: bool, deterministic: bool) -> tuple:
    import tensorflow as tf

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if spec.threads:
        tf.config.threading.set_intra_op_parallelism_threads(spec.threads)
        tf.config.threading.set_inter_op_parallelism_threads(2)
    gpus = tf.config.list_physical_devices("GPU")
    if logical:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * spec.logical_devices)
    elif len(gpus) < needed:
        raise _missing_gpus(spec, needed, len(gpus))
    if needed == 0:
        return tf.distribute.get_strategy(), ("/cpu:0",)
    names = tuple(d.name for d in tf.config.list_logical_devices("CPU" if logical else "GPU")[:needed])
    strategy = (tf.distribute.OneDeviceStrategy(names[0]) if needed == 1
                else tf.distribute.MirroredStrategy(devices=list(names)))
    return strategy, names


def _on_jax(spec: PlacementSpec, needed: int, logical: bool, deterministic: bool) -> tuple:
    if deterministic:
        _add_xla_flag(JAX_DETERMINISM_FLAG)
    import keras

    if needed == 0:
        return KerasDistribution(None), ("cpu:0",)
    found = _jax_devices("cpu" if logical else "gpu")
    if len(found) < needed:
        if logical:  # pipelines.backend.select asks for the host devices; JAX started before it could
            raise RuntimeError(f"JAX has {len(found)} host devices where {spec.logical_devices} were asked for: "
                               "it started its backends before the placement was made")
        raise _missing_gpus(spec, needed, len(found))
    distribution = keras.distribution.DataParallel(devices=found[:needed])
    return KerasDistribution(distribution), tuple(found[:needed])


def _add_xla_flag(flag: str) -> None:
    """Add `flag` to XLA_FLAGS (inherited by the processes this one starts), refused once JAX has
    started its backends without it: XLA would never read it."""
    from jax._src import xla_bridge  # no public API says whether the backends have started

    flags = os.environ.get("XLA_FLAGS", "").split()
    if flag in flags:
        return
    if xla_bridge.backends_are_initialized():
        raise RuntimeError(f"JAX started before {flag} could be set: place the process before any JAX computation")
    os.environ["XLA_FLAGS"] = " ".join([*flags, flag])


def _jax_devices(kind: str) -> list[str]:
    import keras

    try:
        return keras.distribution.list_devices(kind)
    except RuntimeError:  # JAX has no backend of that kind here (no GPU, or no CUDA plugin)
        return []


def _missing_gpus(spec: PlacementSpec, needed: int, found: int) -> UserInputError:
    return UserInputError(
        f"{spec.device} needs {needed} GPU(s) but this machine has {found}: run it where they are, "
        f"or pass --logical-devices {needed} to run the same code on logical CPU devices"
    )
