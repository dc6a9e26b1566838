"""Training and evaluation on a placement: the datasets, the model in the strategy's scope, the fit.

Shared by `harness run`'s training variants, the dense LTH run and every ticket, so that all of them
train the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.data import online
from pipelines.data.shards import ShardSource, naming_bad_input
from pipelines.data.source import ImageFolderSource
from pipelines.train.model import build_model
from pipelines.train.recipe import compile_model
from pipelines.train.recipe_schedule import ScheduleLength
from pipelines.train.placement import Placement
from pipelines.train.resume import Progress, SaveEvery, TrainingState
from pipelines.train.resumable_fit import fit_resumably
from pipelines.train.workloads import Workload


@dataclass(frozen=True)
class TrainSetup:
    source: ImageFolderSource | ShardSource
    workload: Workload
    placement: Placement
    pipeline: str = "parallel"
    seed: int = 0
    cache_dir: str | None = None
    epochs: int = 1  # the whole training the learning-rate schedule spans (a rewound ticket starts part way)
    order_seed: int | None = None  # the data order's seed, where it is not `seed` (a stability copy's)
    save_every: SaveEvery = SaveEvery()  # how often a training with a TrainingState saves it

    @property
    def global_batch(self) -> int:
        return self.placement.global_batch(self.workload.batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.source.split("train")) // self.global_batch

    @property
    def total_steps(self) -> int:
        """The steps the learning-rate schedule spans: the dense run's."""
        return self.epochs * self.steps_per_epoch

    def start_schedule_at(self, model, step: int) -> None:
        """Set the optimizer's iteration counter, which the learning-rate schedule reads, to `step`: a
        ticket rewound to step k trains on with the rates the dense run had from there."""
        model.optimizer.iterations.assign(step)

    @property
    def num_classes(self) -> int:
        return self.workload.classes_for(len(self.source.classes))

    def spec(self, shuffle: bool = True, start_step: int = 0) -> online.PipelineSpec:
        order = self.seed if self.order_seed is None else self.order_seed
        return online.PipelineSpec(image_size=self.workload.image_size, batch_size=self.global_batch,
                                   seed=order, shuffle=shuffle, cache_dir=self.cache_dir,
                                   workers=self.placement.spec.threads, start=start_step * self.global_batch)

    def train_dataset(self, start_step: int = 0):
        """The training pipeline as this backend's Keras takes it, from the batch after `start_step`
        steps on, and the steps in one epoch of it."""
        split, spec = self.source.split("train"), self.spec(start_step=start_step)
        dataset = self._within_share(online.build(self.pipeline, split, spec))
        return online.for_keras(dataset, spec), self.steps_per_epoch

    def _within_share(self, dataset):
        """With a thread share (sweep workers on one node), tf.data keeps to it as TensorFlow's ops do
        (the decode processes of the numpy pipelines keep to it by their number: `spec().workers`)."""
        threads = self.placement.spec.threads
        if not threads or not online.is_tf_dataset(dataset):
            return dataset
        import tensorflow as tf

        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        options.threading.max_intra_op_parallelism = 1
        return dataset.with_options(options)

    def fit(self, model, epochs: int, callbacks=(), **resuming) -> Progress:
        """Train `model` for whole epochs of the training pipeline (`fit_steps`'s `state` and `log` too)."""
        return self.fit_steps(model, epochs * self.steps_per_epoch, callbacks, **resuming)

    def fit_steps(self, model, steps: int, callbacks=(), validate: bool = False,
                  state: TrainingState | None = None, log=lambda line: None) -> Progress:
        """Train `model` for `steps` batches: whole epochs of the pipeline, the last one cut short
        (a ticket rewound to step 500 of 35-step epochs trains what remains of the dense run).

        With `validate`, top-1 over the validation split after every epoch (the last one cut short
        included): the curve [(steps trained, top-1)] that a ticket's early-stopping iteration is
        read from (Frankle & Carbin 2019), in the returned progress. With `state`, the training
        resumes from its newest saved state and saves it as it goes (pipelines.train.resumable_fit)."""
        return fit_resumably(self, model, steps, callbacks, validate, state, log)

    def fit_dataset(self, model, dataset, **fit_arguments) -> None:
        """Keras' fit over `dataset` from this setup's training split, naming a file it cannot read."""
        with naming_bad_input(self.source, "train"):
            model.fit(dataset, shuffle=False, verbose=0, **fit_arguments)

    def model(self, seed: int | None = None, masks: dict[str, np.ndarray] | None = None, masking: str = "gradient",
              load=None):
        """A compiled MobileNetV2 in the placement's scope. `load(model)` may fill in weights before the
        compile; with `masks`, the compiled step holds the masked weights at zero."""
        return self.compiled(seed, masks, masking, load)[0]

    def compiled(self, seed: int | None = None, masks: dict[str, np.ndarray] | None = None,
                 masking: str = "gradient", load=None) -> tuple[object, dict | None]:
        """`model(...)`, and the mask variables its step reads (None without masks)."""
        spec = self.placement.spec
        with self.placement.strategy.scope():
            model = build_model(self.workload, self.num_classes, self.seed if seed is None else seed, spec.precision)
            if load:
                load(model)
            variables = compile_model(model, self.workload.recipe, ScheduleLength(self.epochs, self.steps_per_epoch),
                                      jit=spec.jit, masks=masks, masking=masking)
        return model, variables

    def evaluate(self, model) -> dict:
        """top-1, top-5 and loss over the whole validation split, each image once."""
        dataset = self._evaluation_dataset()
        with naming_bad_input(self.source, "val"):
            loss, top1, top5 = model.evaluate(dataset, verbose=0)
        return {"loss": float(loss), "top1": float(top1), "top5": float(top5)}

    def _evaluation_dataset(self):
        """The validation split as `evaluate` reads it. A tf.data dataset is built once per setup and read
        again at each evaluation: building it traced its map function again, about 0.05 s of CPU per epoch
        of a validated training (a 40-epoch lenet-smoke ticket took 21.1 s, now 19.2). The numpy
        pipelines' generator is read only once, so it is built anew each time."""
        if "_evaluation" in self.__dict__:
            return self.__dict__["_evaluation"]
        dataset = self._within_share(online.evaluation_dataset(self.source.split("val"), self.spec(shuffle=False)))
        if online.is_tf_dataset(dataset):
            self.__dict__["_evaluation"] = dataset  # as functools.cached_property does (the dataclass is frozen)
        return dataset
