"""Where training runs: a device choice becomes a tf.distribute strategy and a global batch.

`cpu` uses TensorFlow's default strategy; `gpu1` a OneDeviceStrategy on the first GPU; `gpu4` a
MirroredStrategy over four GPUs. Without the GPUs a choice needs, `logical_devices=N` splits the CPU
into N logical devices and runs the very same strategy code on them: that is how the tests exercise
`gpu4`, and such a placement is labelled logical everywhere so that it is never read as a GPU figure.
Logical devices must be configured before TensorFlow runs its first op, so `place` comes first.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pipelines.backend import BACKENDS, DEFAULT as DEFAULT_BACKEND
from pipelines.errors import UserInputError
from pipelines.registry import Registry
from pipelines.settings import setting

PRECISIONS = ("float32", "mixed_float16")


@dataclass(frozen=True)
class Device:
    gpus: int  # 0: the CPU; 1: one GPU (OneDeviceStrategy); more: that many in sync (MirroredStrategy)


DEVICES: Registry[Device] = Registry("device")
DEVICES.add("cpu", Device(0), "train on the CPU")
DEVICES.add("gpu1", Device(1), "train on one GPU (OneDeviceStrategy)")
DEVICES.add("gpu4", Device(4), "train on four GPUs (MirroredStrategy)")


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
    precision: str = setting("float32", "mixed_float16 needs GPUs.", choices=lambda: PRECISIONS)
    jit: bool = setting(False, "XLA-compile the training step (GPUs).")
    threads: int | None = setting(None, "TensorFlow threads per job (default: all cores; multiprocessing and mpi: "
                                        "cores / workers).")  # intra-op; inter-op is 2

    def validate(self) -> None:
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


@dataclass(frozen=True)
class Placement:
    spec: PlacementSpec
    strategy: object
    devices: tuple[str, ...]
    logical: bool  # logical CPU devices stand in for GPUs

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def global_batch(self, per_replica: int) -> int:
        return per_replica * self.replicas

    def describe(self) -> dict:
        return {
            "device": self.spec.device,
            "replicas": self.replicas,
            "devices": list(self.devices),
            "logical": self.logical,
            "precision": self.spec.precision,
            "jit": self.spec.jit,
            "threads": self.spec.threads,
            "label": label(self.spec.device, self.logical),
        }


def label(device: str, logical: bool) -> str:
    """How reports name a placement: logical stand-ins say so."""
    return f"{device} on logical CPU devices (not a GPU measurement)" if logical else device


@functools.cache
def place(spec: PlacementSpec) -> Placement:
    """The placement for `spec`, made once per process (logical devices can be configured only once)."""
    spec.validate()
    import tensorflow as tf

    if spec.threads:
        tf.config.threading.set_intra_op_parallelism_threads(spec.threads)
        tf.config.threading.set_inter_op_parallelism_threads(2)
    needed = DEVICES[spec.device].gpus
    gpus = tf.config.list_physical_devices("GPU")
    logical = spec.logical_devices is not None and needed > 0
    if logical:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * spec.logical_devices)
    elif len(gpus) < needed:
        raise UserInputError(
            f"{spec.device} needs {needed} GPU(s) but this machine has {len(gpus)}: run it where they are, "
            f"or pass --logical-devices {needed} to run the same code on logical CPU devices"
        )
    if (spec.precision != "float32" or spec.jit) and (needed == 0 or logical):
        raise UserInputError("--precision mixed_float16 and --jit apply to GPUs; this placement runs on the CPU")

    if needed == 0:
        return Placement(spec, tf.distribute.get_strategy(), ("/cpu:0",), logical=False)
    kind = "CPU" if logical else "GPU"
    names = tuple(d.name for d in tf.config.list_logical_devices(kind)[:needed])
    strategy = (tf.distribute.OneDeviceStrategy(names[0]) if needed == 1
                else tf.distribute.MirroredStrategy(devices=list(names)))
    return Placement(spec, strategy, names, logical)
