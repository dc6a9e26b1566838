"""Silence TensorFlow's, absl's and Keras' log noise unless the user asks for it with --verbose.

TF reads TF_CPP_MIN_LOG_LEVEL when its C++ runtime loads, so `silence` must run before the first
`import tensorflow`; the CLI calls it first thing and imports TensorFlow lazily. Some of XLA's
registrations log through absl's C++ logger at import time regardless of that variable, so commands
that need Keras load it through `preload_keras`, which closes stderr's file descriptor
for the duration of the import.
"""

from __future__ import annotations

import os

from pipelines.stderr import QUIET_ENV, load_tensorflow, native_stderr_muted, quiet_python_logs

_verbose = False


def is_verbose() -> bool:
    return _verbose


def silence(verbose: bool) -> None:
    global _verbose
    _verbose = verbose
    if verbose:
        os.environ.pop(QUIET_ENV, None)
        return
    os.environ[QUIET_ENV] = "1"  # the processes this command starts are as quiet (pipelines.stderr.quiet_worker)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    quiet_python_logs()


def preload_keras() -> None:
    """Import Keras (on the selected backend, and TensorFlow with it when that is the backend) now,
    quietly unless --verbose was given."""
    from pipelines import backend

    with native_stderr_muted(active=not _verbose):
        import keras  # noqa: F401

        if backend.active() == "tensorflow":
            load_tensorflow(quiet=not _verbose)
        _quiet_absl()


def preload_tensorflow() -> None:
    """Import TensorFlow now, quietly, where it is installed: for a command that trains no model but
    may read or write through tf.data and TFRecords (the data and preprocessing variants)."""
    if load_tensorflow(quiet=not _verbose):
        _quiet_absl()


def _quiet_absl() -> None:
    if not _verbose:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
