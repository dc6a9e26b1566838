"""How a model trains: the recipe's optimizer, schedule, loss and metrics, and with masks, how they are held."""

from __future__ import annotations

import functools

import numpy as np

from pipelines.train.masking import masked_optimizer
from pipelines.train.recipe_schedule import ScheduleLength, learning_rate_schedule
from pipelines.train.recipes import OPTIMIZERS, Recipe

# Weight decay shrinks the kernels only (convolutions, depthwise convolutions, the classifier), as
# TF-slim's MobileNetV2 regularizes them: BatchNormalization's scale and offset and biases keep theirs.
NOT_DECAYED = ["gamma", "beta", "bias"]
OPTIMIZER_ARGUMENTS = {  # each optimizer's own arguments, from the recipe
    "sgd": lambda recipe: {"momentum": recipe.momentum, "nesterov": True},
    "momentum": lambda recipe: {"momentum": recipe.momentum},
    # TF-slim's MobileNetV2 training flags (decay 0.9, opt_epsilon 1.0)
    "rmsprop": lambda recipe: {"momentum": recipe.momentum, "rho": 0.9, "epsilon": 1.0},
    "adam": lambda recipe: {},
}


def compile_model(model, recipe: Recipe, length: ScheduleLength, jit: bool = False,
                  masks: dict[str, np.ndarray] | None = None, masking: str = "gradient") -> dict | None:
    """The recipe's optimizer, its learning rate scheduled over `length` from the optimizer's iteration
    counter, and its loss; with `masks`, the masked weights are zeroed and held at zero by `masking`
    (see pipelines.train.masking). Returns the mask variables the compiled step reads (path ->
    variable; None without masks): assigning them changes the mask without recompiling.

    `jit` XLA-compiles TensorFlow's step; on JAX every step is XLA-compiled whatever it says (Keras
    on JAX without jit_compile runs the step op by op, eagerly: never what a placement means)."""
    import keras

    optimizer_class = getattr(keras.optimizers, OPTIMIZERS[recipe.optimizer])
    arguments = {"learning_rate": learning_rate_schedule(recipe, length), "weight_decay": recipe.weight_decay or None,
                 **OPTIMIZER_ARGUMENTS[recipe.optimizer](recipe)}

    def make(cls):
        optimizer = cls(**arguments)
        optimizer.exclude_from_weight_decay(var_names=NOT_DECAYED)
        return optimizer

    optimizer, variables = (make(optimizer_class), None) if masks is None else \
        masked_optimizer(model, masks, masking, optimizer_class, make)
    model.compile(
        optimizer=optimizer,
        loss=_smoothed_loss_class()(recipe.label_smoothing) if recipe.label_smoothing
        else keras.losses.SparseCategoricalCrossentropy(),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
        jit_compile=jit or keras.backend.backend() == "jax",
    )
    return variables


@functools.cache
def _smoothed_loss_class():
    """Defined on first use: Keras is imported only after the backend is chosen."""
    import keras

    @keras.saving.register_keras_serializable(package="lth_harness")
    class SmoothedSparseCrossentropy(keras.losses.Loss):
        """Cross-entropy against smoothed one-hot targets made from integer labels (Keras' sparse
        cross-entropy takes no label smoothing)."""

        def __init__(self, smoothing: float, name: str = "smoothed_sparse_crossentropy", **kwargs):
            super().__init__(name=name, **kwargs)
            self.smoothing = smoothing

        def call(self, y_true, y_pred):
            labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
            targets = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1], dtype=y_pred.dtype)
            return keras.losses.categorical_crossentropy(targets, y_pred, label_smoothing=self.smoothing)

        def get_config(self):
            return {**super().get_config(), "smoothing": self.smoothing}

    return SmoothedSparseCrossentropy
