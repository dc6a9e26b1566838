"""MobileNetV2 as the harness trains it: uint8 images in, class probabilities out."""

from __future__ import annotations

import numpy as np

from pipelines.train.workloads import Workload


def build_model(workload: Workload, num_classes: int, seed: int, precision: str = "float32"):
    """Keras' MobileNetV2 (random init) behind a rescaling layer, so pipelines can stay in uint8.

    The rescaling is part of one flat functional model (not a nested one), so every prunable layer
    is reachable from `model.layers`. The softmax is a float32 layer of its own, as mixed precision
    needs. Call inside the placement's strategy scope.
    """
    import keras

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(seed)
    size = workload.image_size
    images = keras.Input((size, size, 3), dtype="uint8", name="images")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(images)
    backbone = keras.applications.MobileNetV2(
        input_tensor=scaled, alpha=workload.alpha, weights=None, classes=num_classes, classifier_activation=None
    )
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(backbone.output)
    model = keras.Model(images, probabilities, name=backbone.name)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = workload.bn_momentum
    return model


def compile_model(model, workload: Workload, jit: bool = False, masks: dict[str, np.ndarray] | None = None,
                  masking: str = "gradient") -> None:
    """SGD with Nesterov momentum; with `masks`, the masked weights are zeroed and held at zero by
    the compiled step (see pipelines.lth.masking). Masking "none" only zeroes them: the benchmark
    baseline that prices the holding itself."""
    import keras

    from pipelines.lth import masking as masked

    sgd = {"learning_rate": workload.learning_rate, "momentum": 0.9, "nesterov": True}
    optimizer = keras.optimizers.SGD(**sgd)
    if masks is not None:
        masked.zero_masked_weights(model, masks)
        if masking == "gradient":
            optimizer = masked.masked_sgd(masks, **sgd)
        elif masking == "constraint":
            masked.constrain_to_masks(model, masks)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
        jit_compile=jit,
    )
