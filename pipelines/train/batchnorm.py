"""BatchNormalization statistics re-estimated for weights that were never trained as they stand.

A network interpolated between two trained copies has moving means and variances that belong to
neither: evaluating it with them measures the statistics, not the weights. So they are replaced by
the mean, over training batches, of each batch's statistics, as PyTorch's `momentum=None` keeps
them. In training mode a BatchNormalization layer normalizes with its batch's statistics, never
its moving ones, so one compiled forward pass per batch gives every layer's batch mean and variance
(of its input, over all axes but the channels, as Keras' own update computes them); forward passes
only, the weights do not change. The pass is compiled once per model (XLA on JAX, a tf.function on
TensorFlow): eagerly it cost a `smoke` stability job about 35 of its 90 s.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

BATCHES = 20  # training batches per re-estimation

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (layers, probe, moments)


def reestimate(model, batches, count: int = BATCHES) -> int:
    """Set every BatchNormalization layer's moving statistics to the mean of the batch statistics of
    the first `count` (images, labels) of `batches`; returns the batches used (none for a network
    without BatchNormalization, such as LeNet or Conv-2/4/6: it has no statistics to re-estimate)."""
    if not _batchnorm_layers(model):
        return 0
    layers, probe, moments = _compiled(model)
    trainable = [v.value for v in probe.trainable_variables]
    non_trainable = [v.value for v in probe.non_trainable_variables]
    means, variances = [], []
    for images, _ in itertools.islice(iter(batches), count):
        mean, variance = moments(trainable, non_trainable, images)
        means.append([np.asarray(m) for m in mean])
        variances.append([np.asarray(v) for v in variance])
    for index, layer in enumerate(layers):
        if means:
            layer.moving_mean.assign(np.mean([m[index] for m in means], axis=0))
            layer.moving_variance.assign(np.mean([v[index] for v in variances], axis=0))
    return len(means)


def _compiled(model):
    if model not in _COMPILED:
        _COMPILED[model] = _moments_function(model)
    return _COMPILED[model]


def _batchnorm_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _moments_function(model):
    """The BatchNormalization layers, a model from the inputs to their inputs, and a compiled
    `moments(trainable, non_trainable, images) -> (means, variances)` of those inputs in training mode."""
    import keras
    from keras import ops

    layers = _batchnorm_layers(model)
    probe = keras.Model(model.inputs, [layer.input for layer in layers])

    def moments(trainable, non_trainable, images):
        outputs, _ = probe.stateless_call(trainable, non_trainable, [images], training=True)
        outputs = [ops.cast(o, "float32") for o in outputs]
        axes = [tuple(range(len(o.shape) - 1)) for o in outputs]
        return ([ops.mean(o, axis=a) for o, a in zip(outputs, axes)],
                [ops.var(o, axis=a) for o, a in zip(outputs, axes)])

    if keras.backend.backend() == "jax":
        import jax

        return layers, probe, jax.jit(moments)
    import tensorflow as tf

    return layers, probe, tf.function(moments, reduce_retracing=True)
