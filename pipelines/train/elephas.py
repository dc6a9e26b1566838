"""A ticket (any masked model) fit data-parallel by Elephas over Spark partitions.

Elephas (synchronous mode, averaging once per epoch) ships the model to the workers as JSON, its
weights and the optimizer's config, and rebuilds it there. A gradient-masking optimizer would not
survive that trip, so models fit here hold their masks with the Keras constraint, whose class
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
from pipelines.spark import spark_session
from pipelines.train import recipe_schedule
from pipelines.train.masking import mask_constraint_class

MASKING = "constraint"  # the only masking method that travels with the model


@functools.cache
def _training_arrays(setup) -> tuple[np.ndarray, np.ndarray]:
    dataset = online.evaluation_dataset(setup.source.split("train"), setup.spec(shuffle=False))
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
    return np.concatenate(images), np.concatenate(labels)


def elephas_fit(model, setup, steps: int, masks, settings, state=None) -> None:
    """Fit `model` for `steps` (whole epochs: Elephas averages once per epoch) over
    `settings.partitions` Spark partitions (local mode unless `settings.spark_master`). Not
    resumable (`state` is unused): a stopped Elephas ticket trains again from its start."""
    from elephas.spark_model import SparkModel
    from elephas.utils.rdd_utils import to_simple_rdd

    images, labels = _training_arrays(setup)
    context = spark_session(settings.spark_master, quiet=settings.quiet).sparkContext
    keep_mask = mask_constraint_class(masks)
    trainer = SparkModel(model, frequency="epoch", mode="synchronous", num_workers=settings.partitions,
                         custom_objects={keep_mask.__name__: keep_mask, **recipe_schedule.custom_objects()},
                         batch_size=setup.global_batch)
    # Elephas prints its progress to stdout, where --json promises one object on the last line.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull if settings.quiet else sys.stderr):
        trainer.fit(to_simple_rdd(context, images, labels), epochs=steps // setup.steps_per_epoch,
                    batch_size=setup.global_batch,
                    verbose=0, validation_split=0.0)
