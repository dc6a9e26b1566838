"""Holding a mask fixed inside the compiled training step: mask variables, the methods, their registry.

The reference re-assigned weights with get/set_weights from Python after every batch (measured
1.44x the dense step). Here the mask lives in the step itself, read from non-trainable variables
(`mask_variables`), never from constants baked into the traced graph: a worker that keeps one
compiled model for many tickets (pipelines.train.warm) assigns each ticket's mask to the same
variables, and the step traced for the first ticket holds every later one's. Setting a mask
(`set_masks`) assigns those variables and zeroes the masked weights once; then
- `gradient` (default): the optimizer multiplies each masked kernel's gradient by its mask before
  the update. SGD with momentum (and no weight decay) then keeps the masked weights exactly zero:
  the gradient, the momentum buffer and the update are all zero there.
- `constraint`: a Keras variable constraint multiplies the kernel by its mask after every update,
  which re-writes the whole kernel each step.
- `none`: nothing holds them (the benchmark baseline that prices the holding itself).
A method is `hold(model, mask_variables, sgd_arguments) -> optimizer`; `MASKINGS` names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from pipelines.registry import Registry
from pipelines.train.model import kernel_values, prunable_kernels


def mask_variables(model, paths) -> dict[str, object]:
    """One non-trainable float variable per masked kernel (path -> variable), all ones until `set_masks`.

    Create them in the placement's strategy scope, as the model. Only the optimizer's or the
    constraint's closure holds them, never an attribute of the model or the optimizer (Keras would
    track them there): so the model's weights, its checkpoints and the optimizer's state stay what
    they are without masks.
    """
    import keras

    kernels = prunable_kernels(model)
    return {path: keras.Variable(np.ones(kernels[path].shape, "float32"), trainable=False, autocast=False,
                                 name=path.replace("/", "_") + "_mask")
            for path in paths}


def set_masks(model, variables: dict[str, object], masks: dict[str, np.ndarray]) -> None:
    """Assign `masks` to the mask variables and zero the weights they prune (one ticket's mask)."""
    for path, variable in variables.items():
        variable.assign(masks[path].astype("float32"))
    kernels, values = prunable_kernels(model), kernel_values(model)
    for path, mask in masks.items():
        kernels[path].assign(values[path] * mask)


def masked_sgd(masks: dict[str, object], **sgd_arguments):
    """An SGD optimizer that zeroes the gradients of masked weights before every update."""
    import keras

    class MaskedSGD(keras.optimizers.SGD):
        def apply(self, grads, trainable_variables=None):
            variables = trainable_variables if trainable_variables is not None else self._trainable_variables
            grads = [
                g * keras.ops.cast(masks[v.path], g.dtype) if g is not None and v.path in masks else g
                for g, v in zip(grads, variables)
            ]
            return super().apply(grads, trainable_variables)

    return MaskedSGD(**sgd_arguments)


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
    hold: Callable  # (model, mask_variables, sgd_arguments) -> the optimizer
    variant: str  # the suffix of the `cpu-synthetic-*` variant that prices it


def _hold_by_gradient(model, masks, sgd_arguments):
    return masked_sgd(masks, **sgd_arguments)


def _hold_by_constraint(model, masks, sgd_arguments):
    import keras

    constrain_to_masks(model, masks)
    return keras.optimizers.SGD(**sgd_arguments)


def _zero_only(model, masks, sgd_arguments):
    import keras

    return keras.optimizers.SGD(**sgd_arguments)


MASKINGS: Registry[MaskingMethod] = Registry("masking")
MASKINGS.add("gradient", MaskingMethod(_hold_by_gradient, "masked"),
             "held by masking gradients in the compiled step")
MASKINGS.add("constraint", MaskingMethod(_hold_by_constraint, "constraint"),
             "held by a Keras kernel constraint after every update")
MASKINGS.add("none", MaskingMethod(_zero_only, "zeroed"),
             "zeroed once, not held (prices the holding)")


def masked_optimizer(model, masks: dict[str, np.ndarray], masking: str, sgd_arguments: dict):
    """The mask variables set to `masks` (masked weights zeroed), and the optimizer (and any constraint)
    that `masking` holds them with; returns (optimizer, the mask variables)."""
    variables = mask_variables(model, masks)
    set_masks(model, variables, masks)
    return MASKINGS[masking].hold(model, variables, sgd_arguments), variables
