"""MobileNetV2 as the harness trains it: uint8 images in, class probabilities out."""

from __future__ import annotations

import random

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
    set_random_seed(seed)
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


def set_random_seed(seed: int) -> None:
    """`keras.utils.set_random_seed`, which seeds TensorFlow too wherever it is installed, importing it
    (seconds, and its thread pools) into a JAX process that never uses it. On JAX this sets what Keras'
    does for its own draws (its global seed, a fresh global seed generator, Python's and NumPy's
    generators) and leaves TensorFlow alone, loaded or not, so that every JAX process, whatever it
    imported before, draws the same weights and leaves TensorFlow's seed as it found it."""
    import keras

    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


def prunable_kernels(model) -> dict[str, object]:
    """Variable path -> kernel variable, for every conv, depthwise conv and dense layer: the weights
    a mask may prune (never BatchNormalization's parameters or biases)."""
    import keras

    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    return {layer.kernel.path: layer.kernel for layer in model.layers if isinstance(layer, kinds)}


def kernel_values(model) -> dict[str, np.ndarray]:
    import keras

    return {path: keras.ops.convert_to_numpy(v) for path, v in prunable_kernels(model).items()}
