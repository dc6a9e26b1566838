"""A user's own network, `--model package.module:function`: the function takes (input_shape, classes)
and returns a `keras.Model` from images to logits.

Its model receives the images as float32 in [-1, 1], shape (size, size, 3), and must return one
logit per class: no softmax at the end (the harness adds its own, in float32). The module is
imported from the working directory and Python's path. Each mistake is refused in one line before
any training: not importable, no such function, not a Keras model, a wrong output shape, a softmax
output, no prunable kernel (the last is checked on the built model, pipelines.train.model).
"""

from __future__ import annotations

import functools
import importlib
import sys

from pipelines.errors import UserInputError
from pipelines.train.models.network import USER_MODEL_FORM, Network


@functools.cache
def user_network(spec: str) -> Network:
    function = _function(spec)

    def build(inputs, classes, workload):
        import keras

        size = workload.image_size
        try:
            model = function((size, size, 3), classes)
        except Exception as error:
            raise UserInputError(f"--model {spec} failed to build for input {(size, size, 3)} and {classes} "
                                 f"classes: {type(error).__name__}: {error}") from None
        if not isinstance(model, keras.Model):
            raise UserInputError(f"--model {spec} returned a {type(model).__name__}, not a keras.Model")
        shape = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else None
        if shape is None or shape[1:] != (classes,):
            raise UserInputError(f"--model {spec} gives outputs of shape {shape or [tuple(o.shape) for o in model.outputs]}, "
                                 f"not (None, {classes}): return one logit per class")
        if _ends_in_softmax(model):
            raise UserInputError(f"--model {spec} ends in a softmax: return logits (the harness adds the softmax)")
        return model(inputs)

    return Network(build, f"the user's {spec}")


def _function(spec: str):
    module_name, _, name = spec.partition(":")
    if not module_name or not name.isidentifier():
        raise UserInputError(f"--model {spec!r} is neither a registered model nor of the form {USER_MODEL_FORM}")
    if "" not in sys.path:  # the working directory, as `python -m` would have it
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise UserInputError(f"--model {spec}: cannot import {module_name} ({type(error).__name__}: {error}); "
                             "is it on PYTHONPATH or in the working directory?") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise UserInputError(f"--model {spec}: {module_name} has no function {name}")
    return function


def _ends_in_softmax(model) -> bool:
    import keras

    last = model.outputs[0]._keras_history.operation
    activation = getattr(last, "activation", None)
    return isinstance(last, keras.layers.Softmax) or activation is keras.activations.softmax or \
        getattr(activation, "__name__", "") == "softmax"
