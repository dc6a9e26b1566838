"""Holding a mask fixed inside the compiled training step: mask variables, the methods, their registry.

The reference re-assigned weights with get/set_weights from Python after every batch (measured
1.44x the dense step). Here the mask lives in the step itself, read from mask variables that the
optimizer owns (`own_masks`), never from constants baked into the traced step: a worker that keeps
one compiled model for many tickets (pipelines.train.warm) assigns each ticket's mask to the same
variables, and the step traced for the first ticket holds every later one's. Setting a mask
(`set_masks`) assigns those variables and zeroes the masked weights once; then
- `gradient` (default): the optimizer multiplies each masked kernel's gradient by its mask before
  the update. The recipe's optimizers then keep the masked weights exactly zero: the gradient, the
  momentum and RMSProp buffers and the update are all zero there, and Keras' weight decay is
  decoupled (w -= lr * wd * w, applied before the update), which leaves a zero weight zero.
- `constraint`: a Keras variable constraint multiplies the kernel by its mask after every update,
  which re-writes the whole kernel each step.
- `none`: nothing holds them (the benchmark baseline that prices the holding itself).
A method is `hold(model, mask_variables, optimizer_class) -> the optimizer class to build` (the
recipe's, or a subclass of it that holds the mask); `MASKINGS` names them. The optimizer built from
it is then made the owner of the mask variables, which fills `mask_variables` (keyed by the masked
kernels' paths) before any step reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from pipelines.registry import Registry
from pipelines.train.model import kernel_values, prunable_kernels


def own_masks(optimizer, model, paths) -> dict[str, object]:
    """Build `optimizer` for the model and add to its own variables one mask per kernel in `paths`
    (path -> variable), all ones until `set_masks`. Call in the placement's strategy scope.

    Why the optimizer's: on JAX, Keras traces a stateless step whose state is the model's, the
    optimizer's and the metrics' variables, and any other variable the step reads is read once, at
    trace time, and compiled in as a constant: a kept model would hold its first ticket's mask for
    ever. The optimizer's variables are that state on every backend (passed into and out of JAX's
    step; read by reference in TensorFlow's), and nothing else holds them, so the model's weights
    are what they are without masks. They go, with the rest of the optimizer's state, into a
    compiled model's weights file, which retraining never uses (pipelines.train.checkpoints), and
    a reset of that state resets them too (pipelines.train.warm assigns the masks after it).
    """
    optimizer.build(model.trainable_variables)
    kernels = prunable_kernels(model)
    return {path: optimizer.add_variable_from_reference(kernels[path], "mask", initializer="ones") for path in paths}


def set_masks(model, variables: dict[str, object], masks: dict[str, np.ndarray]) -> None:
    """Assign `masks` to the mask variables and zero the weights they prune (one ticket's mask)."""
    for path, variable in variables.items():
        variable.assign(masks[path].astype("float32"))
    kernels, values = prunable_kernels(model), kernel_values(model)
    for path, mask in masks.items():
        kernels[path].assign(values[path] * mask)


def gradient_masked(optimizer_class, masks: dict[str, object]):
    """A subclass of the Keras `optimizer_class` that zeroes the gradients of masked weights before
    every update (weight decay and the update itself follow, in the base class's `apply`)."""
    import keras

    class GradientMasked(optimizer_class):
        def apply(self, grads, trainable_variables=None):
            variables = trainable_variables if trainable_variables is not None else self._trainable_variables
            grads = [
                g * keras.ops.cast(masks[v.path], g.dtype) if g is not None and v.path in masks else g
                for g, v in zip(grads, variables)
            ]
            return super().apply(grads, trainable_variables)

    GradientMasked.__name__ = f"Masked{optimizer_class.__name__}"
    return GradientMasked


def mask_constraint_class(masks: dict[str, object]):
    """A Keras constraint class that multiplies a kernel by its mask, named by variable path.

    Its config holds only the path, so a model carrying it serializes small; the masks (variables,
    or numpy arrays) travel in the class itself (a closure), which is how Elephas ships it to Spark
    workers as a custom object.
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


def constrain_to_masks(model, masks: dict[str, object]):
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
    values = kernel_values(model)
    return int(sum(np.count_nonzero(values[name][~mask]) for name, mask in masks.items()))


@dataclass(frozen=True)
class MaskingMethod:
    hold: Callable  # (model, mask_variables, optimizer_class) -> the optimizer class to build
    variant: str  # the suffix of the `cpu-synthetic-*` variant that prices it


def _hold_by_gradient(model, masks, optimizer_class):
    return gradient_masked(optimizer_class, masks)


def _hold_by_constraint(model, masks, optimizer_class):
    constrain_to_masks(model, masks)
    return optimizer_class


def _zero_only(model, masks, optimizer_class):
    return optimizer_class


MASKINGS: Registry[MaskingMethod] = Registry("masking")
MASKINGS.add("gradient", MaskingMethod(_hold_by_gradient, "masked"),
             "held by masking gradients in the compiled step")
MASKINGS.add("constraint", MaskingMethod(_hold_by_constraint, "constraint"),
             "held by a Keras kernel constraint after every update")
MASKINGS.add("none", MaskingMethod(_zero_only, "zeroed"),
             "zeroed once, not held (prices the holding)")


def masked_optimizer(model, masks: dict[str, np.ndarray], masking: str, optimizer_class, make):
    """The optimizer (and any constraint) that `masking` holds `masks` with, built by `make(cls)` (the
    recipe's optimizer, of `optimizer_class` or the method's subclass of it) and owning the mask
    variables, which are set to `masks` (the masked weights zeroed); returns (optimizer, the mask
    variables)."""
    variables = dict.fromkeys(masks)  # the masked paths now (a constraint attaches by them), the variables
    # once the optimizer exists to own them: the methods read them only in the training step
    optimizer = make(MASKINGS[masking].hold(model, variables, optimizer_class))
    variables.update(own_masks(optimizer, model, masks))
    set_masks(model, variables, masks)
    return optimizer, variables
