"""ResNet-20 and VGG-16 in their CIFAR-10 form, as facebookresearch/open_lth builds them
(models/cifar_resnet.py, models/cifar_vgg.py) for Frankle et al. 2020 (Linear Mode Connectivity).

ResNet-20: a 3x3 convolution of 16 filters, then three stages of three basic blocks (16, 32, 64
filters; the first block of a later stage strides 2 and its shortcut is a 1x1 convolution with
BatchNormalization), global average pooling and a dense classifier. VGG-16: 3x3 convolutions with
BatchNormalization and ReLU, 64-64-M-128-128-M-256x3-M-512x3-M-512x3, then average pooling and a
dense classifier (open_lth pools 2x2 over the 2x2 map that 32 px leaves: global pooling here, the
same at 32 px, and any input size works). Both: Kaiming-normal kernels and BatchNormalization
scales drawn uniformly from [0, 1] (open_lth's `kaiming_normal` and `uniform` batchnorm_init).
"""

from __future__ import annotations

from pipelines.train.models.network import Network

OPEN_LTH = "facebookresearch/open_lth ({}); Frankle et al. 2020, Linear Mode Connectivity (ICML)"
INIT = "he_normal"
VGG16_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def _conv_bn(x, filters: int, name: str, kernel: int = 3, strides: int = 1, bias: bool = False):
    import keras

    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=bias,
                            kernel_initializer=INIT, name=name)(x)
    return keras.layers.BatchNormalization(gamma_initializer=keras.initializers.RandomUniform(0.0, 1.0),
                                           name=f"{name}_bn")(x)


def resnet20(inputs, classes, workload):
    import keras

    x = keras.layers.ReLU(name="stem_relu")(_conv_bn(inputs, 16, "stem"))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            name = f"stage{stage + 1}_block{block + 1}"
            strides = 2 if stage and not block else 1
            y = keras.layers.ReLU(name=f"{name}_relu1")(_conv_bn(x, filters, f"{name}_conv1", strides=strides))
            y = _conv_bn(y, filters, f"{name}_conv2")
            shortcut = _conv_bn(x, filters, f"{name}_shortcut", kernel=1, strides=strides) if strides > 1 else x
            x = keras.layers.ReLU(name=f"{name}_relu2")(keras.layers.Add(name=f"{name}_add")([y, shortcut]))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.layers.Dense(classes, kernel_initializer=INIT, name="logits")(x)


def vgg16(inputs, classes, workload):
    import keras

    x, index = inputs, 0
    for step in VGG16_PLAN:
        if step == "M":
            x = keras.layers.MaxPooling2D(2, name=f"pool{index}")(x)
            continue
        index += 1
        x = keras.layers.ReLU(name=f"conv{index}_relu")(_conv_bn(x, step, f"conv{index}", bias=True))
    x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    return keras.layers.Dense(classes, kernel_initializer=INIT, name="logits")(x)


NETWORKS = [
    ("resnet20", Network(resnet20, OPEN_LTH.format("cifar_resnet_20")), "ResNet-20 for CIFAR-10 (He et al. 2016; open_lth)"),
    ("vgg16", Network(vgg16, OPEN_LTH.format("cifar_vgg_16")), "VGG-16 for CIFAR-10 with BatchNormalization (open_lth)"),
]
