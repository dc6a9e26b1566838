"""Mask arithmetic on plain arrays: exact counts, scopes, thresholds, iterative rounds, collapse."""

import numpy as np
import pytest

from pipelines.errors import UserInputError
from pipelines.lth.masks import MaskSpec, check_collapse, compute_masks, load_masks, save_masks, sparsity_report


@pytest.fixture
def weights():
    rng = np.random.default_rng(0)
    return {"a/kernel": rng.normal(0, 1.0, (3, 3, 4, 8)), "b/kernel": rng.normal(0, 0.001, (50,)),
            "c/kernel": rng.normal(0, 0.5, (7, 11))}


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.8, 0.9])
def test_global_prunes_an_exact_count_of_the_smallest(weights, sparsity):
    masks = compute_masks(weights, MaskSpec("global", sparsity))
    total = sum(w.size for w in weights.values())
    assert sum(int((~m).sum()) for m in masks.values()) == round(sparsity * total)
    kept = np.concatenate([np.abs(w[m]) for w, m in zip(weights.values(), masks.values())])
    pruned = np.concatenate([np.abs(w[~m]) for w, m in zip(weights.values(), masks.values())])
    if len(pruned) and len(kept):
        assert pruned.max() <= kept.min()


@pytest.mark.parametrize("sparsity", [0.5, 0.8])
def test_layer_scope_prunes_the_same_share_of_each_layer(weights, sparsity):
    masks = compute_masks(weights, MaskSpec("layer", sparsity))
    for name, mask in masks.items():
        assert int((~mask).sum()) == round(sparsity * weights[name].size)
        assert np.abs(weights[name][~mask]).max() <= np.abs(weights[name][mask]).min()


def test_ties_are_broken_reproducibly():
    flat = {"x/kernel": np.ones(10)}
    first = compute_masks(flat, MaskSpec("global", 0.3))["x/kernel"]
    assert int((~first).sum()) == 3
    np.testing.assert_array_equal(first, compute_masks(flat, MaskSpec("global", 0.3))["x/kernel"])


def test_absolute_threshold(weights):
    masks = compute_masks(weights, MaskSpec("global", threshold=0.2))
    for name, mask in masks.items():
        np.testing.assert_array_equal(mask, np.abs(weights[name]) > 0.2)
    with pytest.raises(UserInputError, match="global"):
        compute_masks(weights, MaskSpec("layer", threshold=0.2))


def test_iterative_round_keeps_pruned_weights_pruned_and_reaches_the_target(weights):
    first = compute_masks(weights, MaskSpec("global", 0.5))
    retrained = {n: w + np.random.default_rng(1).normal(0, 5, w.shape) for n, w in weights.items()}
    second = compute_masks(retrained, MaskSpec("global", 0.8), previous=first)
    for name in weights:
        assert not np.any(second[name] & ~first[name])
    assert sparsity_report(second)["pruned"] == round(0.8 * sum(w.size for w in weights.values()))


def test_layer_collapse_is_reported_and_refused_unless_allowed(weights):
    spec = MaskSpec("global", 0.3)
    report = sparsity_report(compute_masks(weights, spec))
    assert report["per_layer"]["b/kernel"] == 1.0 and report["collapsed_layers"] == ["b/kernel"]
    with pytest.raises(UserInputError, match="prunes 1 layer.*b/kernel.*--scope layer.*--allow-collapse"):
        check_collapse(spec, report, allow=False)
    assert "b/kernel" in check_collapse(spec, report, allow=True)
    layer_report = sparsity_report(compute_masks(weights, MaskSpec("layer", 0.3)))
    assert layer_report["collapsed_layers"] == [] and check_collapse(spec, layer_report, allow=False) is None


def test_masks_round_trip_through_npz(weights, tmp_path):
    masks = compute_masks(weights, MaskSpec("layer", 0.5))
    save_masks(tmp_path / "m.npz", masks)
    loaded = load_masks(tmp_path / "m.npz")
    assert loaded.keys() == masks.keys()
    for name in masks:
        np.testing.assert_array_equal(loaded[name], masks[name])
