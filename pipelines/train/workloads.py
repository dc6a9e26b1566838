"""Workload presets: a network, its input size and the recipe that trains it, with its length.

The MobileNetV2 presets:

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

The classic lottery-ticket presets pair each network of pipelines.train.models with its paper's
recipe (README, "Models and workloads", gives the source of every value): `lenet-mnist` and
`conv2/4/6-cifar` as Frankle & Carbin 2019 trained them (Adam, batch 60, for 50K, 20K, 25K and 30K
iterations over 55,000 or 45,000 training images), `resnet20-cifar` and `vgg16-cifar` as open_lth's
registry does (SGD with momentum 0.9, 0.1 dropped 10x at epochs 80 and 120 of 160, weight decay 1e-4,
batch 128). Each has a `-short` form with the same recipe over fewer epochs, which a 2-core machine
finishes in minutes on a small data set (the milestones scaled with it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from pipelines.errors import UserInputError
from pipelines.registry import Registry
from pipelines.train.models import check_name
from pipelines.train.recipes import Recipe


@dataclass(frozen=True)
class Workload:
    name: str
    alpha: float  # MobileNetV2's width multiplier (other networks have their standard width)
    image_size: int
    bn_momentum: float
    recipe: Recipe = field(default_factory=Recipe)
    num_classes: int | None = None  # None: as many as the data set has
    model: str = "mobilenet_v2"  # a name in pipelines.train.models.MODELS, or a user's package.module:function
    epochs: int = 4  # the dense run's length unless --epochs says otherwise

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

    def with_model(self, model: str | None) -> Workload:
        """This workload with another network (`--model`), checked by name; None keeps its own."""
        if model is None:
            return self
        check_name(model)
        return replace(self, model=model)

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


def _classic(name: str, model: str, size: int, recipe: Recipe, epochs: int, short_epochs: int, summary: str) -> None:
    """A paper's workload and its `-short` form: the same recipe over fewer epochs, milestones scaled."""
    WORKLOADS.add(name, Workload(name, alpha=1.0, image_size=size, bn_momentum=0.9, recipe=recipe, model=model,
                                 epochs=epochs), summary)
    milestones = tuple(sorted({max(1, round(m * short_epochs / epochs)) for m in recipe.milestones}))
    WORKLOADS.add(f"{name}-short", Workload(f"{name}-short", alpha=1.0, image_size=size, bn_momentum=0.9,
                                            recipe=replace(recipe, milestones=milestones), model=model,
                                            epochs=short_epochs),
                  f"{name}'s recipe over {short_epochs} epochs: minutes on 2 cores with a small data set")


def _adam(rate: float) -> Recipe:
    return Recipe(optimizer="adam", learning_rate=rate, batch_size=60)  # Frankle & Carbin 2019, figure 2


WORKLOADS.add("lenet-smoke", Workload("lenet-smoke", alpha=1.0, image_size=16, bn_momentum=0.9, model="lenet_300_100",
                                      recipe=replace(_adam(1.2e-3), batch_size=8), epochs=2),
              "LeNet-300-100 at 16 px, Adam 1.2e-3, batch 8: the test suite's searches, a second a training")
CIFAR_SGD = Recipe(optimizer="momentum", learning_rate=0.1, schedule="step", milestones=(80, 120), gamma=0.1,
                   weight_decay=1e-4, batch_size=128)  # open_lth's cifar_resnet_20 and cifar_vgg_16
_classic("lenet-mnist", "lenet_300_100", 28, _adam(1.2e-3), 55, 20,
         "LeNet-300-100 at 28 px, Adam 1.2e-3, batch 60, 55 epochs (50K iterations on 55K images)")
for _depth, _rate, _iterations in ((2, 2e-4, 20_000), (4, 3e-4, 25_000), (6, 3e-4, 30_000)):
    _classic(f"conv{_depth}-cifar", f"conv{_depth}", 32, _adam(_rate), round(_iterations * 60 / 45_000), 8,
             f"Conv-{_depth} at 32 px, Adam {_rate:g}, batch 60, {_iterations // 1000}K iterations on 45K images")
_classic("resnet20-cifar", "resnet20", 32, CIFAR_SGD, 160, 8,
         "ResNet-20 at 32 px, SGD momentum 0.9, 0.1 (x0.1 at epochs 80, 120), 160 epochs, decay 1e-4, batch 128")
_classic("vgg16-cifar", "vgg16", 32, CIFAR_SGD, 160, 8,
         "VGG-16 at 32 px, SGD momentum 0.9, 0.1 (x0.1 at epochs 80, 120), 160 epochs, decay 1e-4, batch 128")


def get_workload(name: str) -> Workload:
    return WORKLOADS[name]
