"""The network as the harness trains it: uint8 images in, the workload's network, class probabilities out."""

from __future__ import annotations

import random

import numpy as np

from pipelines.errors import UserInputError
from pipelines.train.models import network
from pipelines.train.models.kinds import kernel_kinds, operations, prunable_kernels
from pipelines.train.workloads import Workload

__all__ = ["build_model", "kernel_kinds", "kernel_values", "prunable_kernels", "set_random_seed"]
# A network's input: the Rescaling layer (name, scale, offset) that maps uint8 images to it.
PIXEL_SCALES = {"signed": ("to_unit_range", 1 / 127.5, -1.0), "raw": ("to_float", 1.0, 0.0)}


def build_model(workload: Workload, num_classes: int, seed: int, precision: str = "float32"):
    """The workload's network (pipelines.train.models, random init) between a rescaling layer, so that
    pipelines can stay in uint8, and a float32 softmax of its own, as mixed precision needs.

    One functional model: the registered networks are built on its input tensor, so every prunable
    layer is one of `model.layers`; a user's model is nested in it. Call inside the placement's
    strategy scope."""
    import keras

    keras.mixed_precision.set_global_policy(precision)
    set_random_seed(seed)
    chosen = network(workload.model)
    size = workload.image_size
    images = keras.Input((size, size, 3), dtype="uint8", name="images")
    name, scale, offset = PIXEL_SCALES[chosen.pixels]
    scaled = keras.layers.Rescaling(scale, offset=offset, name=name)(images)
    logits = chosen.build(scaled, num_classes, workload)
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    model = keras.Model(images, probabilities, name=workload.model.replace(":", ".").replace(".", "_"))
    if not prunable_kernels(model):
        raise UserInputError(f"--model {workload.model} has no prunable kernel (no trainable convolution or dense "
                             "layer): there is nothing to prune")
    for layer in operations(model):
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


def kernel_values(model) -> dict[str, np.ndarray]:
    import keras

    return {path: keras.ops.convert_to_numpy(v) for path, v in prunable_kernels(model).items()}
