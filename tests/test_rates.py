"""Pruning rates per round: one rate (open_lth) or one per layer kind (Frankle & Carbin 2019), with exact
counts round after round."""

import numpy as np
import pytest

from pipelines.errors import UserInputError
from pipelines.lth.config import LthConfig
from pipelines.lth.masks import MaskSpec, compute_masks, sparsity_report
from pipelines.lth.rates import parse_rates, round_targets

LENET = {"fc1/kernel": (784, 300), "fc2/kernel": (300, 100), "logits/kernel": (100, 10)}
LENET_KINDS = {"fc1/kernel": "dense", "fc2/kernel": "dense", "logits/kernel": "classifier"}
CONV2 = {"conv1/kernel": (3, 3, 3, 64), "conv2/kernel": (3, 3, 64, 64), "fc1/kernel": (4096, 256),
         "fc2/kernel": (256, 256), "logits/kernel": (256, 10)}
CONV2_KINDS = {"conv1/kernel": "stem", "conv2/kernel": "conv", "fc1/kernel": "dense", "fc2/kernel": "dense",
               "logits/kernel": "classifier"}


def draw(shapes, seed):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape) for name, shape in shapes.items()}


def pruned(mask):
    return int((~mask).sum())


def test_per_kind_rates_prune_each_layer_its_exact_count_round_after_round():
    rates = parse_rates(("dense=0.2", "classifier=0.1"))
    masks = None
    for round_, targets in enumerate(round_targets(rates, 6), start=1):
        weights = draw(LENET, round_)  # each round prunes the weights the last one trained
        spec = MaskSpec("layer", per_kind=targets)
        new = compute_masks(weights, LENET_KINDS, spec, previous=masks)
        for name, shape in LENET.items():
            rate = 0.1 if name == "logits/kernel" else 0.2
            assert pruned(new[name]) == round((1 - (1 - rate) ** round_) * np.prod(shape)), (round_, name)
            if masks is not None:
                assert not (new[name] & ~masks[name]).any()  # pruned weights stay pruned
        report = sparsity_report(new, LENET_KINDS, spec)
        assert report["requested_per_kind"] == {"dense": 1 - 0.8 ** round_, "classifier": 1 - 0.9 ** round_}
        masks = new
    assert spec.mask_id == "layer-dense0.7379-classifier0.4686"


def test_a_family_rate_covers_its_kinds_and_global_scope_prunes_them_together():
    weights = draw(CONV2, 0)
    spec = MaskSpec("global", per_kind=(("conv", 0.1), ("dense", 0.2), ("classifier", 0.1)))
    masks = compute_masks(weights, CONV2_KINDS, spec)
    convs = ["conv1/kernel", "conv2/kernel"]
    conv_weights = sum(weights[n].size for n in convs)
    assert sum(pruned(masks[n]) for n in convs) == round(0.1 * conv_weights)  # stem and conv as one group
    assert sum(pruned(masks[n]) for n in ("fc1/kernel", "fc2/kernel")) == round(0.2 * (4096 * 256 + 256 * 256))
    assert pruned(masks["logits/kernel"]) == round(0.1 * 2560)
    flat = np.concatenate([np.abs(weights[n]).ravel() for n in convs])
    kept = np.concatenate([masks[n].ravel() for n in convs])
    assert flat[~kept].max() <= flat[kept].min()  # the smallest of the group, wherever they lie


def test_a_single_rate_gives_the_rounds_target_sparsities():
    config = LthConfig(out="/tmp/x", sparsities=(), prune_rates=("0.2",), rounds=3, schedule="iterative")
    config.validate()
    assert [spec.sparsity for spec in config.mask_specs()] == pytest.approx([0.2, 0.36, 0.488])


@pytest.mark.parametrize("spec, kinds, message", [
    (MaskSpec("layer", per_kind=(("dense", 0.2),)), CONV2_KINDS, r"no rate for the conv, stem layer\(s\).*conv=0.2"),
    (MaskSpec("erk", per_kind=(("dense", 0.2), ("classifier", 0.1))), LENET_KINDS, "take --scope layer or global"),
    (MaskSpec("layer", per_kind=(("fc", 0.2),)), LENET_KINDS, "names 'fc', not a layer kind"),
    (MaskSpec("layer", per_kind=(("dense", 0.2), ("classifier", 0.1)), keep_dense=("stem",)), LENET_KINDS,
     "give a kind rate 0 to keep it dense"),
])
def test_per_kind_rates_that_cannot_apply_are_refused_in_one_line(spec, kinds, message):
    with pytest.raises(UserInputError, match=message):
        compute_masks(draw(CONV2 if kinds is CONV2_KINDS else LENET, 0), kinds, spec)


@pytest.mark.parametrize("texts, message", [
    (("dense=0.2", "dense=0.1"), "names dense twice"),
    (("0.2", "dense=0.1"), "one rate, or KIND=RATE pairs, not both"),
    (("dense=1.5",), r"in \[0, 1\)"),
    (("dense=much",), "give a rate"),
])
def test_rates_are_parsed_or_refused(texts, message):
    with pytest.raises(UserInputError, match=message):
        parse_rates(texts)


@pytest.mark.parametrize("fields, message", [
    ({"prune_rates": ("0.2",)}, "--prune-rate and --rounds go together"),
    ({"prune_rates": ("0.2",), "rounds": 0}, "--rounds must be at least 1"),
    ({"prune_rates": ("0.2",), "rounds": 2, "sparsities": (0.5,)}, "one of them"),
])
def test_rates_and_rounds_are_checked_with_the_search(fields, message):
    with pytest.raises(UserInputError, match=message):
        LthConfig(out="/tmp/x", **{"sparsities": (), **fields}).validate()
