"""Workload presets: how big a MobileNetV2, at which resolution, and the recipe that trains it.

`imagenet` is the reference run (alpha 1.0, 224 px, 1,000 classes) with MobileNetV2's own recipe
(Sandler et al. 2018, section 6.1, and TF-slim's training flags): RMSProp with decay (rho) and
momentum 0.9, epsilon 1.0, learning rate 0.045 decayed by 0.98 after every epoch, weight decay 4e-5,
batch 96 per GPU. One difference: here the weight decay is decoupled (w -= lr * wd * w), where the
paper's is an L2 term in the loss that RMSProp rescales.

The small presets shrink the network and the images so that a 2-core machine finishes in seconds,
and lower BatchNormalization's momentum: at Keras' 0.999 the moving statistics hardly move in a short
run, and evaluation then sits at chance. `smoke`'s recipe is SGD with Nesterov momentum 0.9 (as Frankle
et al. 2020 and open_lth train their CIFAR networks), with the two ingredients that let sparse
networks train in short runs, chosen by measurement on handwritten digits (README, "Workloads"):
- a schedule that ends at a small rate (cosine to 0): with a constant rate the weights still move at
  the end, BatchNormalization's moving statistics lag them, and a ticket evaluated at chance while its
  training accuracy was 0.88 (a random-init control: 0.08 with the decay below and a constant rate);
- decoupled weight decay 5e-4 of the kernels (open_lth's CIFAR networks use 1e-4; 5e-4 is the other
  common CIFAR value, e.g. in SNIP and GraSP; only 5e-4 was measured here): BatchNormalization makes
  the loss blind to a kernel's scale, and without decay the kernel behind a pruned stem grew to |w| = 18.
Its rate is 0.01 at batch 16 (0.05 left dense training at 0.44 after 8 epochs). `small` takes the same
recipe with the rate scaled with the batch (0.02 at batch 32: linear scaling, Goyal et al. 2017), not
measured. No warm-up: the tests' one-epoch trainings on two-batch data sets are shorter than any
useful one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from pipelines.errors import UserInputError
from pipelines.registry import Registry
from pipelines.train.recipes import Recipe


@dataclass(frozen=True)
class Workload:
    name: str
    alpha: float
    image_size: int
    bn_momentum: float
    recipe: Recipe = field(default_factory=Recipe)
    num_classes: int | None = None  # None: as many as the data set has

    @property
    def batch_size(self) -> int:
        """The batch per replica (the recipe's)."""
        return self.recipe.batch_size

    def classes_for(self, data_classes: int) -> int:
        if self.num_classes is not None and data_classes > self.num_classes:
            raise UserInputError(
                f"workload {self.name} has {self.num_classes} classes but the data has {data_classes}"
            )
        return self.num_classes or data_classes

    def with_recipe(self, **overrides) -> Workload:
        """This workload trained with some recipe fields replaced (the command line's), checked."""
        return replace(self, recipe=self.recipe.overridden(**overrides)) if overrides else self

    def as_dict(self) -> dict:
        """The fields, and the batch per replica at the top level, where run records held it before
        recipes (the report reads it there)."""
        return {**asdict(self), "batch_size": self.batch_size}


SMOKE_RECIPE = Recipe(optimizer="sgd", learning_rate=0.01, schedule="cosine", weight_decay=5e-4, batch_size=16)
REFERENCE_RECIPE = Recipe(optimizer="rmsprop", learning_rate=0.045, schedule="exponential", gamma=0.98,
                          weight_decay=4e-5, batch_size=96)

WORKLOADS: Registry[Workload] = Registry("workload")
WORKLOADS.add("smoke", Workload("smoke", alpha=0.35, image_size=32, bn_momentum=0.9,
                                recipe=SMOKE_RECIPE),
              "alpha 0.35 at 32 px, batch 16: tests, seconds on a laptop")
WORKLOADS.add("small", Workload("small", alpha=0.35, image_size=96, bn_momentum=0.9,
                                recipe=replace(SMOKE_RECIPE, learning_rate=0.02, batch_size=32)),
              "alpha 0.35 at 96 px, batch 32: the demo on 2 cores")
WORKLOADS.add("imagenet", Workload("imagenet", alpha=1.0, image_size=224, bn_momentum=0.999,
                                   recipe=REFERENCE_RECIPE, num_classes=1000),
              "alpha 1.0 at 224 px, 1,000 classes, batch 96: the reference run")


def get_workload(name: str) -> Workload:
    return WORKLOADS[name]
