"""Networks from Keras Applications, built untrained (`weights=None`) at any input size and class count.

Each is built on the harness' input tensor, so its layers join the one flat model. MobileNetV2's
width multiplier comes from the workload (`alpha`), as the harness always built it; the others are
built at their standard width. MobileNetV3 is built without its own rescaling layer (it gets [-1, 1]
like MobileNetV2); EfficientNet rescales [0, 255] itself (its `Normalization` statistics are not
trainable parameters and never pruned).
"""

from __future__ import annotations

from pipelines.train.models.network import Network

KERAS = "Keras Applications (keras.applications), weights=None"


def _application(constructor: str, pixels: str = "signed", **options) -> Network:
    def build(inputs, classes, workload):
        import keras

        kwargs = {"alpha": workload.alpha} if constructor == "MobileNetV2" else {}
        model = getattr(keras.applications, constructor)(
            input_tensor=inputs, weights=None, classes=classes, classifier_activation=None, **kwargs, **options)
        return model.output

    return Network(build, f"{KERAS}.{constructor}", pixels)


NETWORKS = [
    ("mobilenet_v2", _application("MobileNetV2"),
     "MobileNetV2 (Sandler et al. 2018), its width (alpha) from the workload"),
    ("mobilenet_v3_small", _application("MobileNetV3Small", include_preprocessing=False),
     "MobileNetV3-Small (Howard et al. 2019): squeeze-excite blocks"),
    ("mobilenet_v3_large", _application("MobileNetV3Large", include_preprocessing=False),
     "MobileNetV3-Large (Howard et al. 2019)"),
    ("resnet50", _application("ResNet50"), "ResNet-50 (He et al. 2016), ImageNet form"),
    ("efficientnet_b0", _application("EfficientNetB0", pixels="raw"),
     "EfficientNet-B0 (Tan & Le 2019): squeeze-excite, its own input normalization"),
]
