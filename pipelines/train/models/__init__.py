"""The networks a search can train, as a registry: a name, how to build it, and where it comes from.

A network is a function `(inputs, classes, workload) -> logits` over Keras' functional API: `inputs`
are the images as floats (in [-1, 1], or in [0, 255] for a network that rescales them itself),
and the logits have one column per class. pipelines.train.model puts the harness' layers around it
(uint8 images in, a float32 softmax out) into one flat model, so that every kernel is reachable and
pipelines.train.models.kinds can name its kind. `--model package.module:function` builds a user's
own network (pipelines.train.models.user).
"""

from __future__ import annotations

from pipelines.registry import Registry
from pipelines.train.models import applications, cifar, classic
from pipelines.train.models.network import Network

MODELS: Registry[Network] = Registry("model")
for _family in (applications, classic, cifar):
    for _name, _network, _summary in _family.NETWORKS:
        MODELS.add(_name, _network, _summary)


def network(name: str) -> Network:
    """The registered network `name`, or a user's `package.module:function` (imported and checked)."""
    if ":" in name:
        from pipelines.train.models.user import user_network

        return user_network(name)
    return MODELS[name]


def check_name(name: str) -> None:
    """Refuse a name that is neither registered nor of the user form, before anything imports Keras."""
    if ":" not in name:
        MODELS.entry(name)
