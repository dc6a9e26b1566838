"""Holding a mask fixed inside the compiled training step.

The reference re-assigned weights with get/set_weights from Python after every batch (measured
1.44x the dense step). Here the mask lives in the step itself, in one of two ways:
- `gradient` (default): the optimizer multiplies each masked kernel's gradient by its mask before
  the update. With the masked weights zeroed once at the start, SGD with momentum (and no weight
  decay) keeps them exactly zero: the gradient, the momentum buffer and the update are all zero there.
- `constraint`: a Keras variable constraint multiplies the kernel by its mask after every update,
  which re-writes the whole kernel each step.
"""

from __future__ import annotations

import numpy as np

from pipelines.lth.masks import prunable_kernels

METHODS = ("gradient", "constraint")


def zero_masked_weights(model, masks: dict[str, np.ndarray]) -> None:
    kernels = prunable_kernels(model)
    for name, mask in masks.items():
        kernels[name].assign(kernels[name].numpy() * mask)


def masked_sgd(masks: dict[str, np.ndarray], **sgd_arguments):
    """An SGD optimizer that zeroes the gradients of masked weights before every update."""
    import keras
    import tensorflow as tf

    class MaskedSGD(keras.optimizers.SGD):
        def apply(self, grads, trainable_variables=None):
            variables = trainable_variables if trainable_variables is not None else self._trainable_variables
            grads = [
                g * tf.constant(masks[v.path], dtype=g.dtype) if g is not None and v.path in masks else g
                for g, v in zip(grads, variables)
            ]
            return super().apply(grads, trainable_variables)

    return MaskedSGD(**sgd_arguments)


def mask_constraint_class(masks: dict[str, np.ndarray]):
    """A Keras constraint class that multiplies a kernel by its mask, named by variable path.

    Its config holds only the path, so a model carrying it serializes small; the masks travel in the
    class itself (a closure), which is how Elephas ships it to Spark workers as a custom object.
    """
    import keras

    class KeepMask(keras.constraints.Constraint):
        def __init__(self, path: str):
            self.path = path

        def __call__(self, weight):
            return weight * keras.ops.cast(masks[self.path], weight.dtype)

        def get_config(self):
            return {"path": self.path}

    return KeepMask


def constrain_to_masks(model, masks: dict[str, np.ndarray]):
    """Attach the constraint to each masked kernel and to its layer's config; returns the class."""
    import keras

    keep_mask = mask_constraint_class(masks)
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None or kernel.path not in masks:
            continue
        kernel.constraint = keep_mask(kernel.path)
        attribute = "depthwise_constraint" if isinstance(layer, keras.layers.DepthwiseConv2D) else "kernel_constraint"
        setattr(layer, attribute, kernel.constraint)
    return keep_mask


def masked_nonzero_count(model, masks: dict[str, np.ndarray]) -> int:
    """How many weights the masks prune are not zero: 0 when the mask held."""
    kernels = prunable_kernels(model)
    return int(sum(np.count_nonzero(kernels[name].numpy()[~mask]) for name, mask in masks.items()))
