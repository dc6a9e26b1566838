"""MobileNetV2 as the harness trains it: uint8 images in, class probabilities out."""

from __future__ import annotations

from pipelines.train.workloads import Workload


def build_model(workload: Workload, num_classes: int, seed: int):
    """Keras' MobileNetV2 (random init) behind a rescaling layer, so pipelines can stay in uint8.

    The rescaling is part of one flat functional model (not a nested one), so every prunable layer
    is reachable from `model.layers`.
    """
    import keras

    keras.utils.set_random_seed(seed)
    size = workload.image_size
    images = keras.Input((size, size, 3), dtype="uint8", name="images")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(images)
    model = keras.applications.MobileNetV2(
        input_tensor=scaled, alpha=workload.alpha, weights=None, classes=num_classes
    )
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = workload.bn_momentum
    return model


def compile_model(model, workload: Workload) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(workload.learning_rate, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
    )
