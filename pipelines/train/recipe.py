"""How a model trains: its optimizer, loss and metrics, and with masks, how they are held."""

from __future__ import annotations

import numpy as np

from pipelines.train.masking import masked_optimizer
from pipelines.train.workloads import Workload


def compile_model(model, workload: Workload, jit: bool = False, masks: dict[str, np.ndarray] | None = None,
                  masking: str = "gradient") -> dict | None:
    """SGD with Nesterov momentum; with `masks`, the masked weights are zeroed and held at zero by
    `masking` (see pipelines.train.masking). Returns the mask variables the compiled step reads
    (path -> variable; None without masks): assigning them changes the mask without recompiling.

    `jit` XLA-compiles TensorFlow's step; on JAX every step is XLA-compiled whatever it says (Keras
    on JAX without jit_compile runs the step op by op, eagerly: never what a placement means)."""
    import keras

    sgd = {"learning_rate": workload.learning_rate, "momentum": 0.9, "nesterov": True}
    optimizer, variables = (keras.optimizers.SGD(**sgd), None) if masks is None else \
        masked_optimizer(model, masks, masking, sgd)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
        jit_compile=jit or keras.backend.backend() == "jax",
    )
    return variables
