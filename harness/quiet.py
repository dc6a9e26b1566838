"""Silence TensorFlow's, absl's and Keras' log noise unless the user asks for it with --verbose.

TF reads TF_CPP_MIN_LOG_LEVEL when its C++ runtime loads, so `silence` must run before the first
`import tensorflow`; the CLI calls it first thing and imports TensorFlow lazily. Some of XLA's
registrations log through absl's C++ logger at import time regardless of that variable, so commands
that need Keras load it through `preload_keras`, which closes stderr's file descriptor
for the duration of the import.
"""

from __future__ import annotations

import logging
import os
import warnings

from pipelines.stderr import native_stderr_muted

_verbose = False


def is_verbose() -> bool:
    return _verbose


def silence(verbose: bool) -> None:
    global _verbose
    _verbose = verbose
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "keras", "jax", "py4j", "pyspark", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def preload_keras() -> None:
    """Import Keras (on the selected backend, and TensorFlow with it when that is the backend) now,
    quietly unless --verbose was given."""
    from pipelines import backend

    with native_stderr_muted(active=not _verbose):
        import keras  # noqa: F401

        if backend.active() == "tensorflow":
            _import_tensorflow()
        _quiet_absl()


def preload_tensorflow() -> None:
    """Import TensorFlow now, quietly, where it is installed: for a command that trains no model but
    may read or write through tf.data and TFRecords (the data and preprocessing variants)."""
    from pipelines.backend import tensorflow_installed

    with native_stderr_muted(active=not _verbose):
        if tensorflow_installed():  # imports it
            _import_tensorflow()
            _quiet_absl()


def _import_tensorflow() -> None:
    """Import TensorFlow and have it look for GPUs now: CUDA's initialization logs through absl
    (a failed `cuInit` on a machine without a GPU, say), deaf to TF_CPP_MIN_LOG_LEVEL, and would
    otherwise do so at the first tf.data op, outside any muting. Listing devices configures none, so
    logical devices can still be set afterwards."""
    import tensorflow as tf

    if not _verbose:
        tf.get_logger().setLevel(logging.ERROR)
    tf.config.list_physical_devices("GPU")


def _quiet_absl() -> None:
    if not _verbose:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
