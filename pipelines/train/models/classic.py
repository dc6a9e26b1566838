"""The networks of the lottery ticket hypothesis' first paper (Frankle & Carbin 2019, figure 2).

LeNet-300-100 is the fully connected network on MNIST: 784-300-100-10, ReLU. It sees one gray
channel: the harness' images are RGB, so it averages the channels first (no weights), and its first
layer has 784 inputs at 28 px as in the paper. Conv-2, Conv-4 and Conv-6 are the scaled-down VGG
networks for CIFAR-10: pairs of 3x3 convolutions (64, 128, 256 filters, "same" padding, ReLU), each
pair followed by 2x2 max-pooling, then fully connected layers of 256, 256 and the classes. The paper
initializes with Gaussian Glorot; no BatchNormalization, no dropout (the paper's dropout runs are a
separate experiment).
"""

from __future__ import annotations

from pipelines.train.models.network import Network

PAPER = "Frankle & Carbin 2019, The Lottery Ticket Hypothesis (ICLR), figure 2"
INIT = "glorot_normal"


def lenet_300_100(inputs, classes, workload):
    import keras

    gray = keras.ops.mean(inputs, axis=-1)
    x = keras.layers.Flatten(name="flatten")(gray)
    for index, width in enumerate((300, 100)):
        x = keras.layers.Dense(width, activation="relu", kernel_initializer=INIT, name=f"fc{index + 1}")(x)
    return keras.layers.Dense(classes, kernel_initializer=INIT, name="logits")(x)


def conv_net(pairs: int):
    """Conv-2, -4 or -6: `pairs` pairs of convolutions."""
    def build(inputs, classes, workload):
        import keras

        x = inputs
        for pair, filters in enumerate((64, 128, 256)[:pairs]):
            for index in (1, 2):
                x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=INIT,
                                        name=f"conv{2 * pair + index}")(x)
            x = keras.layers.MaxPooling2D(2, name=f"pool{pair + 1}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for index in (1, 2):
            x = keras.layers.Dense(256, activation="relu", kernel_initializer=INIT, name=f"fc{index}")(x)
        return keras.layers.Dense(classes, kernel_initializer=INIT, name="logits")(x)

    return build


NETWORKS = [
    ("lenet_300_100", Network(lenet_300_100, PAPER), "LeNet-300-100: fully connected, 784-300-100-classes (MNIST)"),
    ("conv2", Network(conv_net(1), PAPER), "Conv-2: 64-64-pool, fc 256-256-classes (CIFAR-10)"),
    ("conv4", Network(conv_net(2), PAPER), "Conv-4: 64-64-pool-128-128-pool, fc 256-256-classes (CIFAR-10)"),
    ("conv6", Network(conv_net(3), PAPER), "Conv-6: three conv pairs (64, 128, 256), fc 256-256-classes (CIFAR-10)"),
]
