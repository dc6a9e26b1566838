"""Which Keras backend trains: TensorFlow or JAX, chosen before Keras is first imported.

Keras reads `KERAS_BACKEND` once, when it is imported, so a command selects the backend before
anything imports Keras; processes it starts (pool workers, MPI ranks, the dense run's child) inherit
the variable. JAX reads `XLA_FLAGS` once too: logical host devices (a GPU placement run on CPU
devices, as tests do) must be asked for here, before JAX is imported. What is TensorFlow's alone
(tf.data pipelines, TFRecord shards, tf.distribute, TensorFlow's profiler) is imported only where
it is used, so the JAX backend runs where TensorFlow is not installed.
"""

from __future__ import annotations

import functools
import os
import sys

from pipelines.errors import UserInputError
from pipelines.registry import Registry

BACKENDS: Registry[str] = Registry("backend")
BACKENDS.add("tensorflow", "tensorflow", "Keras on TensorFlow: tf.distribute placements, tf.data, TensorFlow's profiler")
BACKENDS.add("jax", "jax", "Keras on JAX: keras.distribution placements, every step XLA-compiled, jax.profiler")
DEFAULT = "tensorflow"
HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


def select(name: str, host_devices: int | None = None) -> None:
    """Make `name` this process's backend (and its children's); `host_devices` splits the CPU into that
    many logical JAX devices. Refused once Keras (or, for host devices, JAX) is imported otherwise."""
    BACKENDS.entry(name)
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise RuntimeError(f"Keras was imported with the {keras.backend.backend()} backend before {name} was chosen")
    os.environ["KERAS_BACKEND"] = name
    if name == "jax" and host_devices:
        flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(HOST_DEVICES_FLAG)]
        if "jax" in sys.modules and f"{HOST_DEVICES_FLAG}={host_devices}" not in os.environ.get("XLA_FLAGS", ""):
            raise RuntimeError("JAX was imported before its logical host devices were configured")
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"{HOST_DEVICES_FLAG}={host_devices}"])


def active() -> str:
    """The backend Keras has, or will have when imported."""
    return os.environ.get("KERAS_BACKEND", DEFAULT)


@functools.cache
def tensorflow_installed() -> bool:
    """Whether TensorFlow imports here (imports it: call only where TensorFlow would be used)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def require_tensorflow(what: str) -> None:
    """Refuse, in one line, what needs TensorFlow where it is not installed."""
    if not tensorflow_installed():
        raise UserInputError(f"{what} needs TensorFlow, which is not installed here: install it, or choose "
                             "what runs without it (harness variants says which)")
