"""Mask arithmetic on plain arrays: exact counts, scopes (ERK among them), thresholds, kinds kept dense,
iterative rounds, collapse."""

import numpy as np
import pytest

from pipelines.errors import UserInputError
from pipelines.lth.masks import (MaskSpec, check_collapse, check_reachable, compute_masks, load_masks, save_masks,
                                 sparsity_report)


def kinds_of(weights):
    """The toy kernels' kinds, as MobileNetV2's layers of those names have them (x, a, b, c: pointwise)."""
    def kind(name):
        layer = name.split("/")[0]
        return {"Conv1": "stem", "predictions": "classifier"}.get(
            layer, "depthwise" if layer.endswith("_depthwise") else "pointwise")
    return {name: kind(name) for name in weights}


@pytest.fixture
def weights():
    rng = np.random.default_rng(0)
    return {"a/kernel": rng.normal(0, 1.0, (3, 3, 4, 8)), "b/kernel": rng.normal(0, 0.001, (50,)),
            "c/kernel": rng.normal(0, 0.5, (7, 11))}


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.8, 0.9])
def test_global_prunes_an_exact_count_of_the_smallest(weights, sparsity):
    masks = compute_masks(weights, kinds_of(weights), MaskSpec("global", sparsity))
    total = sum(w.size for w in weights.values())
    assert sum(int((~m).sum()) for m in masks.values()) == round(sparsity * total)
    kept = np.concatenate([np.abs(w[m]) for w, m in zip(weights.values(), masks.values())])
    pruned = np.concatenate([np.abs(w[~m]) for w, m in zip(weights.values(), masks.values())])
    if len(pruned) and len(kept):
        assert pruned.max() <= kept.min()


@pytest.mark.parametrize("sparsity", [0.5, 0.8])
def test_layer_scope_prunes_the_same_share_of_each_layer(weights, sparsity):
    masks = compute_masks(weights, kinds_of(weights), MaskSpec("layer", sparsity))
    for name, mask in masks.items():
        assert int((~mask).sum()) == round(sparsity * weights[name].size)
        assert np.abs(weights[name][~mask]).max() <= np.abs(weights[name][mask]).min()


def test_ties_are_broken_reproducibly():
    flat = {"x/kernel": np.ones(10)}
    first = compute_masks(flat, kinds_of(flat), MaskSpec("global", 0.3))["x/kernel"]
    assert int((~first).sum()) == 3
    np.testing.assert_array_equal(first, compute_masks(flat, kinds_of(flat), MaskSpec("global", 0.3))["x/kernel"])


def test_absolute_threshold(weights):
    masks = compute_masks(weights, kinds_of(weights), MaskSpec("global", threshold=0.2))
    for name, mask in masks.items():
        np.testing.assert_array_equal(mask, np.abs(weights[name]) > 0.2)
    with pytest.raises(UserInputError, match="global"):
        compute_masks(weights, kinds_of(weights), MaskSpec("layer", threshold=0.2))


# ERK after global: each layer keeps at most what the previous mask kept (global empties b/kernel).
@pytest.mark.parametrize("first_scope, scope", [("global", "global"), ("erk", "erk"), ("global", "erk")])
def test_iterative_round_keeps_pruned_weights_pruned_and_reaches_the_target(weights, first_scope, scope):
    first = compute_masks(weights, kinds_of(weights), MaskSpec(first_scope, 0.5))
    retrained = {n: w + np.random.default_rng(1).normal(0, 5, w.shape) for n, w in weights.items()}
    second = compute_masks(retrained, kinds_of(retrained), MaskSpec(scope, 0.8), previous=first)
    for name in weights:
        assert not np.any(second[name] & ~first[name])
    assert sparsity_report(second, kinds_of(second))["pruned"] == round(0.8 * sum(w.size for w in weights.values()))


def test_layer_collapse_is_reported_and_refused_unless_allowed(weights):
    spec = MaskSpec("global", 0.3)
    report = sparsity_report(compute_masks(weights, kinds_of(weights), spec), kinds_of(weights))
    assert report["per_layer"]["b/kernel"] == 1.0 and report["collapsed_layers"] == ["b/kernel"]
    with pytest.raises(UserInputError, match="prunes 1 layer.*b/kernel.*--scope layer.*--allow-collapse"):
        check_collapse(spec, report, allow=False)
    assert "b/kernel" in check_collapse(spec, report, allow=True)
    layer_report = sparsity_report(compute_masks(weights, kinds_of(weights), MaskSpec("layer", 0.3)), kinds_of(weights))
    assert layer_report["collapsed_layers"] == [] and check_collapse(spec, layer_report, allow=False) is None


def test_masks_round_trip_through_npz(weights, tmp_path):
    masks = compute_masks(weights, kinds_of(weights), MaskSpec("layer", 0.5))
    save_masks(tmp_path / "m.npz", masks)
    loaded = load_masks(tmp_path / "m.npz")
    assert loaded.keys() == masks.keys()
    for name in masks:
        np.testing.assert_array_equal(loaded[name], masks[name])


# Erdős–Rényi-Kernel allocation and kinds kept dense. The toy layers carry MobileNetV2's names, so
# that they have its kinds: 680 weights, of which 576 pointwise, 72 depthwise, 32 in the classifier.
TOY_SHAPES = {"block_1_expand/kernel": (3, 3, 8, 8), "block_1_depthwise/kernel": (3, 3, 8, 1),
              "predictions/kernel": (8, 4)}


def toy_weights(shapes=TOY_SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0, 1, shape) for name, shape in shapes.items()}


def kept_counts(masks):
    return {name: int(mask.sum()) for name, mask in masks.items()}


@pytest.mark.parametrize("kept, expected", [
    # eps = 2: each layer keeps 2 * sum(shape) = 2 * (22, 15, 12) weights; none exceeds its size.
    (98, {"block_1_expand/kernel": 44, "block_1_depthwise/kernel": 30, "predictions/kernel": 24}),
    # eps = 3 would give the classifier 36 of its 32 weights: it stays dense, and the others share
    # the remaining 143 - 32 = 111 = 3 * (22 + 15), so eps is still 3 for them.
    (143, {"block_1_expand/kernel": 66, "block_1_depthwise/kernel": 45, "predictions/kernel": 32}),
])
def test_erk_gives_each_layer_eps_times_the_sum_of_its_kernel_dims(kept, expected):
    weights = toy_weights()
    masks = compute_masks(weights, kinds_of(weights), MaskSpec("erk", 1 - kept / 680))
    assert kept_counts(masks) == expected
    for name, mask in masks.items():  # within a layer, the largest magnitudes stay
        if 0 < mask.sum() < mask.size:
            assert np.abs(weights[name][~mask]).max() <= np.abs(weights[name][mask]).min()


MOBILENET_LIKE = {"Conv1/kernel": (3, 3, 3, 16), "expanded_conv_depthwise/kernel": (3, 3, 16, 1),
                  "expanded_conv_project/kernel": (1, 1, 16, 8), "block_1_expand/kernel": (1, 1, 8, 48),
                  "block_1_depthwise/kernel": (3, 3, 48, 1), "Conv_1/kernel": (1, 1, 48, 1280),
                  "predictions/kernel": (1280, 10)}


@pytest.mark.parametrize("sparsity", [0.05, 0.3, 0.5, 0.8, 0.9, 0.97])
def test_erk_prunes_an_exact_count_with_densities_in_the_erk_ratio(sparsity):
    weights = toy_weights(MOBILENET_LIKE)
    masks = compute_masks(weights, kinds_of(weights), MaskSpec("erk", sparsity))
    total = sum(w.size for w in weights.values())
    assert sum(kept_counts(masks).values()) == total - round(sparsity * total)
    # Below density 1, a layer keeps eps * sum(shape) weights, one eps for all (up to one weight of
    # rounding each); a dense layer is one whose share would reach its size.
    sparse = [name for name, mask in masks.items() if not mask.all()]
    eps = sum(masks[name].sum() for name in sparse) / sum(sum(masks[name].shape) for name in sparse)
    for name in sparse:
        assert masks[name].sum() == pytest.approx(eps * sum(masks[name].shape), abs=1)
    for name in set(masks) - set(sparse):
        assert eps * sum(masks[name].shape) >= masks[name].size - 1
    assert sparsity > 0.5 or len(sparse) < len(masks)  # low targets saturate some layers


@pytest.mark.parametrize("scope", ["global", "layer", "erk"])
def test_kinds_kept_dense_stay_whole_and_the_target_counts_all_weights_or_the_rest(scope):
    weights = toy_weights(MOBILENET_LIKE)
    total = sum(w.size for w in weights.values())
    kept_whole = {"Conv1/kernel", "expanded_conv_depthwise/kernel", "block_1_depthwise/kernel"}
    rest = total - sum(weights[name].size for name in kept_whole)
    for over, target_count in [("all", round(0.8 * total)), ("rest", round(0.8 * rest))]:
        spec = MaskSpec(scope, 0.8, keep_dense=("depthwise", "stem"), sparsity_over=over)
        masks = compute_masks(weights, kinds_of(weights), spec)
        assert all(masks[name].all() for name in kept_whole)
        pruned = sum(int((~m).sum()) for m in masks.values())
        if scope == "layer":  # the same share of each pruned layer: exact per layer, not in total
            assert pruned == pytest.approx(target_count, abs=len(masks))
        else:
            assert pruned == target_count
        report = sparsity_report(masks, kinds_of(masks), spec)
        assert (report["scope"], report["keep_dense"], report["sparsity_over"]) == (scope, ["depthwise", "stem"], over)
        assert report["pruned_set_weights"] == rest and report["sparsity_of_pruned"] == pruned / rest
        assert report["sparsity"] == pruned / total
        requested_all, requested_rest = (0.8, 0.8 * total / rest) if over == "all" else (0.8 * rest / total, 0.8)
        assert report["requested_sparsity"] == pytest.approx(requested_all)
        assert report["requested_sparsity_of_pruned"] == pytest.approx(requested_rest)
        assert report["per_kind"]["depthwise"]["sparsity"] == 0 and report["per_kind"]["stem"]["sparsity"] == 0
        assert report["layer_kinds"]["Conv_1/kernel"] == "pointwise"


def test_a_target_out_of_reach_of_the_weights_left_is_refused_in_one_line():
    weights = toy_weights(MOBILENET_LIKE)  # the classifier holds 12,800 of the 75,760 weights: 17%
    reachable = compute_masks(weights, kinds_of(weights), MaskSpec("erk", 0.8, keep_dense=("classifier",)))
    assert sparsity_report(reachable, kinds_of(reachable))["pruned"] == round(0.8 * 75_760)
    spec = MaskSpec("erk", 0.9, keep_dense=("classifier",))
    with pytest.raises(UserInputError, match=r"cannot reach sparsity 0.9 over all 75,760 .* --sparsity-over rest") as error:
        compute_masks(weights, kinds_of(weights), spec)
    assert "\n" not in str(error.value)
    with pytest.raises(UserInputError, match="cannot reach sparsity 0.9"):  # what the dense run checks first
        check_reachable([MaskSpec("erk", 0.5, keep_dense=("classifier",)), spec], weights, kinds_of(weights))
    check_reachable([MaskSpec("erk", 0.9, keep_dense=("classifier",), sparsity_over="rest")], weights, kinds_of(weights))
    over_rest = compute_masks(weights, kinds_of(weights),
                              MaskSpec("erk", 0.9, keep_dense=("classifier",), sparsity_over="rest"))
    assert sparsity_report(over_rest, kinds_of(over_rest))["pruned"] == round(0.9 * (75_760 - 12_800))


def test_mask_ids_name_everything_that_changes_the_mask():
    specs = [MaskSpec(scope, s, keep_dense=kinds, sparsity_over=over)
             for scope in ("global", "layer", "erk") for s in (0.5, 0.9)
             for kinds in ((), ("stem",), ("depthwise",), ("stem", "depthwise"), ("classifier",))
             for over in ("all", "rest") if kinds or over == "all"]
    assert len({spec.mask_id for spec in specs}) == len(specs)
    assert MaskSpec("global", 0.5).mask_id == "global-s0.5000"  # as before kinds could be kept dense
    assert MaskSpec("erk", 0.9, keep_dense=("stem", "depthwise")).mask_id == \
        MaskSpec("erk", 0.9, keep_dense=("depthwise", "stem")).mask_id == "erk-s0.9000-keep-depthwise+stem-over-all"


@pytest.mark.parametrize("spec, message", [
    (MaskSpec("erk", 0.5, keep_dense=("attention",)), "--keep-dense 'attention' is not a layer kind.*stem, conv"),
    (MaskSpec("erk", 0.5, keep_dense=("stem", "stem")), "--keep-dense lists stem twice"),
    (MaskSpec("erk", 0.5, keep_dense=("stem",), sparsity_over="some"), "--sparsity-over 'some'.*all, rest"),
])
def test_keep_dense_settings_are_checked(spec, message):
    with pytest.raises(UserInputError, match=message):
        spec.validate()


def test_every_mobilenet_v2_kernel_has_its_kind():
    from pipelines.train.model import build_model, kernel_kinds, kernel_values
    from pipelines.train.workloads import get_workload

    model = build_model(get_workload("smoke"), 3, seed=0)
    weights, kinds = kernel_values(model), kernel_kinds(model)
    assert list(kinds) == list(weights)  # network order
    assert [name for name, kind in kinds.items() if kind == "stem"] == ["Conv1/kernel"]
    assert [name for name, kind in kinds.items() if kind == "classifier"] == ["predictions/kernel"]
    depthwise = [name for name, kind in kinds.items() if kind == "depthwise"]
    assert len(depthwise) == 17 and all(weights[name].shape[-1] == 1 for name in depthwise)
    pointwise = [name for name, kind in kinds.items() if kind == "pointwise"]
    # at 32 px the last blocks run on 1x1 maps: still pointwise (the kind is the layer's, not the size's)
    assert "Conv_1/kernel" in pointwise and all(weights[name].shape[:2] == (1, 1) for name in pointwise)
    assert len(kinds) == 1 + 17 + len(pointwise) + 1 == 53
