"""The prunable kernels of any Keras model and the kind of each, read from the model's structure.

A kind is what a layer does, not what it is called, so that scopes, `--keep-dense`, per-kind pruning
rates and the mask reports work on every network the same way:
- `stem`: the first convolution a signal meets;
- `depthwise`: a depthwise or grouped convolution (each filter sees a share of the channels);
- `conv`: any other convolution with a spatial kernel (3x3, 5x5, ...);
- `pointwise`: a 1x1 convolution over a feature map;
- `squeeze_excite`: a layer on globally pooled features whose output gates a feature map by
  multiplication (Hu et al. 2018; MobileNetV3's and EfficientNet's blocks);
- `dense`: a fully connected layer, or a convolution over a 1x1 (pooled) input, which is one;
- `classifier`: the last prunable layer, whose outputs are the logits.
Only trainable kernels are prunable: never biases, BatchNormalization's parameters, EfficientNet's
`Normalization` statistics, layer scales, or a frozen layer's weights.
"""

from __future__ import annotations

KINDS = ("stem", "conv", "depthwise", "pointwise", "squeeze_excite", "dense", "classifier")
FAMILIES = {"conv": ("stem", "conv", "depthwise", "pointwise"),  # a per-kind rate's key may name a family
            "dense": ("squeeze_excite", "dense", "classifier")}


def prunable_kernels(model) -> dict[str, object]:
    """Variable path -> kernel variable for every trainable kernel, in the order a signal meets
    them (nested models included)."""
    return {variable.path: variable for _, variable, _ in _kernel_layers(model)}


def kernel_kinds(model) -> dict[str, str]:
    """Variable path -> kind (KINDS) for every prunable kernel, in network order."""
    found, pooled = _kernel_layers(model), _pooled(model)
    kinds = {}
    for position, (layer, variable, role) in enumerate(found):
        kinds[variable.path] = _kind(layer, role, pooled, first=position == 0, last=position == len(found) - 1)
    return kinds


def _kernel_layers(model) -> list[tuple[object, object, str]]:
    """(layer, kernel variable, role) in topological order; role is "depthwise" or "pointwise" for
    the two kernels of a separable convolution, else "kernel"."""
    import keras

    found = []
    for operation in operations(model):
        for attribute, role in (("kernel", "kernel"), ("depthwise_kernel", "depthwise"),
                                ("pointwise_kernel", "pointwise")):
            variable = getattr(operation, attribute, None)
            if isinstance(variable, keras.Variable) and variable.trainable and operation.trainable:
                found.append((operation, variable, role))
    return found


def operations(model) -> list:
    """Every operation of a functional or sequential model, nested models expanded in place."""
    import keras

    result = []
    for operation in getattr(model, "operations", None) or model.layers:
        if isinstance(operation, keras.Model):
            result += operations(operation)
        else:
            result.append(operation)
    return result


def _kind(layer, role: str, pooled: set[int], first: bool, last: bool) -> str:
    import keras

    if last:
        return "classifier"
    convolution = not isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))
    if convolution and first:
        return "stem"
    if role != "kernel":
        return role
    if not convolution or any(id(parent) in pooled for parent in _parents(layer)):
        return "squeeze_excite" if _gates_a_feature_map(layer, pooled) else "dense"
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)) or \
            getattr(layer, "groups", 1) > 1:
        return "depthwise"
    return "pointwise" if all(size == 1 for size in layer.kernel.shape[:-2]) else "conv"


def _parents(operation) -> list:
    """The operations whose outputs `operation` takes (at its first call)."""
    nodes = getattr(operation, "_inbound_nodes", [])
    return [tensor._keras_history.operation for tensor in nodes[0].input_tensors] if nodes else []


def _pooled(model) -> set[int]:
    """The ids of the operations whose outputs are globally pooled features, whatever the input size:
    a global pooling, and every operation all of whose inputs are such (a convolution over them is a
    fully connected layer). Read in topological order, so parents come first."""
    pooled: set[int] = set()
    for operation in operations(model):
        parents = _parents(operation)
        if type(operation).__name__.startswith("Global") or (parents and all(id(p) in pooled for p in parents)):
            pooled.add(id(operation))
    return pooled


def _gates_a_feature_map(layer, pooled: set[int]) -> bool:
    """Whether the layer's output, followed forward through operations on pooled features,
    multiplies a feature map (a squeeze-excite gate) rather than reaching the logits."""
    frontier, seen = [layer], set()
    while frontier:
        following = []
        for operation in frontier:
            for node in getattr(operation, "_outbound_nodes", []):
                consumer = node.operation
                if id(consumer) in seen:
                    continue
                seen.add(id(consumer))
                if id(consumer) in pooled:
                    following.append(consumer)
                elif type(consumer).__name__ == "Multiply":
                    return True
        frontier = following
    return False
