"""Warm workers: one compiled model per traced graph, kept across the tickets a process runs.

Tracing MobileNetV2's training step costs a `smoke` ticket about 10 of its 12 s of fit, and every
ticket of a search traces the same graph: tickets differ in values only (weights, mask, seed). So
the first ticket of a graph key in a process builds and compiles its model exactly as a fresh
ticket always did, and the process keeps it; every later ticket with that key assigns its values
to the kept model and fits and evaluates it with the train and test steps already traced.

The key is everything those steps depend on: the workload (network size, image size,
BatchNormalization momentum, and its recipe: optimizer, batch, loss, and the learning-rate schedule,
whose constants are traced in), the schedule's length (epochs, steps per epoch), the classes, the
placement (strategy, precision, jit, threads), the masking method and which kernels carry a mask.
Seeds, weights, mask values and where in the schedule a ticket starts are not part of it.

A kept model is made a ticket's fresh model by assigning, in this order:
1. every model variable (kernels, biases, BatchNormalization's moving statistics): the rewind
   checkpoint, or the initialization that a control's seed draws (built once per seed and process);
2. every optimizer variable (iteration counter, momentum slots, a loss-scale optimizer's, and the
   mask variables, which the optimizer owns) back to its value when built, before any step. After
   the weights, because Keras' `load_weights` also loads the optimizer state a checkpoint was saved
   with;
3. the mask variables, and the masked weights zeroed (`set_masks`): after the reset, which sets the
   masks back to the first ticket's;
4. the iteration counter, to the ticket's start in the schedule (`TrainSetup.start_schedule_at`):
   the learning rate is a function of it, evaluated in the step;
5. the metrics, reset.
That is all the state the traced steps read: the model's, the optimizer's (masks included) and the
metrics' variables, which are the state of JAX's stateless step too (a variable outside them would
be compiled in as a constant), and the batches of a dataset built for each fit (a new iterator
restarts the seeded order; building a dataset costs no tracing worth keeping). So a warm ticket
computes what a fresh build computes; tests/test_warm.py checks it bit for bit after tickets with
another mask and seed (tests/test_jax_training.py on JAX).

The data order is the last input. The step draws no random numbers, but tf.data's seeded shuffles
(the `cached` and `offline` pipelines) derive their seeds from the global one, which building a
model sets to the seed drawing its weights. Every ticket, built or kept, fits under the setup's seed
(`_fit_under_setup_seed`), so a random-init control sees the data in the order its tickets see it;
the control's own seed draws its weights only. It is set only when it differs: setting it clears
TensorFlow's kernel cache, and the traced steps are instantiated again (about 2 s on `smoke`).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from pipelines.train.masking import set_masks
from pipelines.train.model import build_model, set_random_seed
from pipelines.train.trainer import TrainSetup


@dataclass(frozen=True)
class _Kept:
    model: object
    mask_variables: dict  # path -> the variable the compiled step reads that kernel's mask from
    built_optimizer: tuple  # each optimizer variable's value before the first step


_KEPT: dict[tuple, _Kept] = {}


def ticket_model(setup: TrainSetup, masks: dict[str, np.ndarray], masking: str, *, load=None,
                 seed: int | None = None, keep: bool = True, start_step: int = 0):
    """The compiled model for one ticket: weights from `load(model)`, or (without `load`) the
    initialization `seed` draws (None: the setup's seed); `masks` held by `masking`; a fresh optimizer
    state, its schedule at `start_step` (a rewound ticket's rewind point), and fresh metrics.

    The first call for a key builds it afresh (clearing Keras' session first, as every ticket once
    did) and keeps it; later calls reuse it. `keep=False` builds afresh and keeps nothing: for a fit
    that recompiles the model it is given (Elephas compiles its master model again).
    """
    import keras

    seed = setup.seed if seed is None else seed
    key = (setup.workload, setup.epochs, setup.steps_per_epoch, setup.num_classes, setup.placement.spec, masking,
           frozenset(masks))
    kept = _KEPT.get(key) if keep else None
    if kept is None:
        keras.backend.clear_session()
        model, variables = setup.compiled(seed, masks, masking, load)
        if keep:
            _KEPT[key] = _Kept(model, variables, _built_optimizer(setup, model))
        setup.start_schedule_at(model, start_step)
        _fit_under_setup_seed(setup)
        return model
    model = kept.model
    with setup.placement.strategy.scope(), warnings.catch_warnings():
        # Keras' load_weights loads the optimizer state a checkpoint holds, or warns that it skips it
        # (a checkpoint saved before any step holds none): the reset below replaces it either way.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        (load or functools.partial(_initialize, setup, seed))(model)
        for variable, value in zip(model.optimizer.variables, kept.built_optimizer):
            variable.assign(value)
        set_masks(model, kept.mask_variables, masks)
        setup.start_schedule_at(model, start_step)
    model.reset_metrics()
    _fit_under_setup_seed(setup)
    return model


def _fit_under_setup_seed(setup: TrainSetup) -> None:
    if _global_seed() != setup.seed:
        set_random_seed(setup.seed)


def _global_seed() -> int | None:
    """The seed `set_random_seed` last set (None after `clear_session`, which forgets it).

    Keras keeps it in its global state and has no public getter."""
    from keras.src.backend.common import global_state

    return global_state.get_global_attribute("global_random_seed")


def _built_optimizer(setup: TrainSetup, model) -> tuple:
    """Build the optimizer now (fit would, before its first step) and return its variables' values."""
    import keras

    with setup.placement.strategy.scope():
        model.optimizer.build(model.trainable_variables)
    return tuple(keras.ops.convert_to_numpy(v) for v in model.optimizer.variables)


def _initialize(setup: TrainSetup, seed: int, model) -> None:
    model.set_weights(_initial_weights(setup.workload, setup.num_classes, setup.placement.spec.precision, seed))


@functools.cache
def _initial_weights(workload, classes: int, precision: str, seed: int) -> list[np.ndarray]:
    """The weights a fresh build with `seed` starts from (a random-init control's), from an uncompiled
    model built once per seed and dropped."""
    return build_model(workload, classes, seed, precision).get_weights()
