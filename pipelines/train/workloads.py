"""Workload presets: how big a MobileNetV2, at which resolution, with which batch.

`imagenet` is the reference run (alpha 1.0, 224 px, 1,000 classes, batch 96). The small presets
shrink the network and the images so that a 2-core machine finishes in seconds, and lower
BatchNormalization's momentum: at Keras' 0.999 the moving statistics hardly move in a short run,
and evaluation then sits at chance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.errors import UserInputError
from pipelines.registry import Registry


@dataclass(frozen=True)
class Workload:
    name: str
    alpha: float
    image_size: int
    batch_size: int
    bn_momentum: float
    learning_rate: float
    num_classes: int | None = None  # None: as many as the data set has

    def classes_for(self, data_classes: int) -> int:
        if self.num_classes is not None and data_classes > self.num_classes:
            raise UserInputError(
                f"workload {self.name} has {self.num_classes} classes but the data has {data_classes}"
            )
        return self.num_classes or data_classes

    def as_dict(self) -> dict:
        return asdict(self)


WORKLOADS: Registry[Workload] = Registry("workload")
WORKLOADS.add("smoke", Workload("smoke", alpha=0.35, image_size=32, batch_size=16, bn_momentum=0.9,
                                learning_rate=0.01), "alpha 0.35 at 32 px, batch 16: tests, seconds on a laptop")
WORKLOADS.add("small", Workload("small", alpha=0.35, image_size=96, batch_size=32, bn_momentum=0.9,
                                learning_rate=0.05), "alpha 0.35 at 96 px, batch 32: the demo on 2 cores")
WORKLOADS.add("imagenet", Workload("imagenet", alpha=1.0, image_size=224, batch_size=96, bn_momentum=0.999,
                                   learning_rate=0.045, num_classes=1000),
              "alpha 1.0 at 224 px, 1,000 classes, batch 96: the reference run")


def get_workload(name: str) -> Workload:
    return WORKLOADS[name]
