"""Each job trained data-parallel by Elephas over the Spark workers, one job after another.

Elephas (synchronous mode, averaging once per epoch) ships the model to the workers as JSON, its
weights and the optimizer's config, and rebuilds it there. A gradient-masking optimizer would not
survive that trip, so tickets trained here hold their masks with the Keras constraint, whose class
travels as a custom object carrying the masks. The training split is decoded into memory once per
process and partitioned over the workers as an RDD (fine for the small workloads; ImageNet would be
read on the workers instead). Synchronous mode starts no parameter server, so nothing listens on
the network beyond Spark's own loopback ports in local mode.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import numpy as np

from pipelines.data import online
from pipelines.lth.masking import mask_constraint_class
from pipelines.lth.ticket import train_setup
from pipelines.spark import spark_session
from pipelines.sweep import serial


@functools.cache
def _training_arrays(config) -> tuple[np.ndarray, np.ndarray]:
    setup = train_setup(config)
    dataset = online.evaluation_dataset(setup.source.split("train"), setup.spec(shuffle=False))
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
    return np.concatenate(images), np.concatenate(labels)


def elephas_fit(config, workers: int, quiet: bool, master: str | None):
    def fit(model, setup, job, masks) -> None:
        from elephas.spark_model import SparkModel
        from elephas.utils.rdd_utils import to_simple_rdd

        images, labels = _training_arrays(config)
        context = spark_session(master, quiet=quiet).sparkContext
        keep_mask = mask_constraint_class(masks)
        trainer = SparkModel(model, frequency="epoch", mode="synchronous", num_workers=workers,
                             custom_objects={keep_mask.__name__: keep_mask}, batch_size=setup.global_batch)
        # Elephas prints its progress to stdout, where --json promises one object on the last line.
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull if quiet else sys.stderr):
            trainer.fit(to_simple_rdd(context, images, labels), epochs=job.epochs, batch_size=setup.global_batch,
                        verbose=0, validation_split=0.0)

    return fit


def run(config, jobs, store, report=None, workers: int = 2, quiet: bool = True, master: str | None = None) -> None:
    serial.run(config, jobs, store, report, fit=elephas_fit(config, workers, quiet, master), masking="constraint")
