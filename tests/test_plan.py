from pipelines.lth.masks import MaskSpec
import pytest

from pipelines.errors import UserInputError
from pipelines.lth.plan import Grid, Shard, iterative_round, oneshot_jobs
from pipelines.lth.rewind import RewindPoint, check_points, parse_points

SPECS = [MaskSpec("global", 0.5), MaskSpec("global", 0.8)]


def grid(points=(0, 2), epochs=5, **settings) -> Grid:
    return Grid(tuple(parse_points(points)), epochs, 10, **settings)  # 10 steps per epoch


def test_oneshot_plan_is_every_mask_by_every_rewind_plus_controls():
    jobs = oneshot_jobs(SPECS, grid(control=True))
    assert [j.job_id for j in jobs] == [
        "global-s0.5000-rewind0", "global-s0.5000-rewind2", "global-s0.5000-control",
        "global-s0.8000-rewind0", "global-s0.8000-rewind2", "global-s0.8000-control"]
    assert [j.steps for j in jobs[:3]] == [50, 30, 50]  # rewind k retrains the remaining steps; controls all
    assert {j.mask_id for j in jobs} == {"global-s0.5000", "global-s0.8000"}  # one-shot masks are shared
    assert oneshot_jobs(SPECS, grid(control=True)) == jobs  # stable: the same plan every time


def test_rewind_points_in_steps_or_epochs_modes_replicates_and_stability_pairs():
    jobs = oneshot_jobs(SPECS[:1], grid(("0", "25it", "2ep"), modes=("weight", "lr", "finetune"), replicates=2,
                                        stability=True))
    first = [j for j in jobs if j.replicate == 0]
    assert [(j.job_id, j.rewind_step, j.steps) for j in first[:3]] == [
        ("global-s0.5000-rewind0", 0, 50), ("global-s0.5000-rewind25it", 25, 25), ("global-s0.5000-rewind2", 20, 30)]
    assert [j.job_id for j in first[3:6]] == ["global-s0.5000-lr-rewind0", "global-s0.5000-lr-rewind25it",
                                              "global-s0.5000-lr-rewind2"]
    assert first[8].job_id == "global-s0.5000-finetune-rewind2" and first[8].steps == 30  # equal cost
    pairs = [j for j in first if j.kind == "stability"]
    assert [j.job_id for j in pairs[:3]] == ["stability-dense-rewind0", "stability-dense-rewind25it",
                                             "stability-dense-rewind2"]
    assert pairs[0].mask is None and pairs[3].mask_id == "global-s0.5000" and pairs[1].cost == 2 * 25
    second = [j.job_id for j in jobs if j.replicate == 1]
    assert len(second) == len(first) and all(name.endswith("-rep1") for name in second)
    assert len({j.job_id for j in jobs}) == len(jobs)


@pytest.mark.parametrize("points, message", [
    (("50it",), "past the end"), (("1", "10it"), "both step 10"), (("5ep",), "past the end")])
def test_rewind_points_must_lie_in_the_dense_run_once_each(points, message):
    with pytest.raises(UserInputError, match=message):
        check_points(parse_points(points), 5, 10)
    assert RewindPoint.parse("0it") == RewindPoint.parse("0") and RewindPoint.parse("3ep").label == 3
    with pytest.raises(UserInputError, match="--rewind"):
        RewindPoint.parse("2 epochs")


def test_iterative_rounds_chain_masks_per_rewind_and_keep_weights_until_the_last():
    first = iterative_round(SPECS, 1, grid((0, 1), 3, control=True))
    second = iterative_round(SPECS, 2, grid((0, 1), 3, control=True))
    assert [j.mask_id for j in first] == ["global-s0.5000"] * 3
    assert [j.mask_id for j in second] == ["global-s0.8000-r2-k0", "global-s0.8000-r2-k1", "global-s0.8000-r2-k0"]
    assert [j.keep_weights for j in first] == [True, True, False]  # the next round prunes the rewinds' tickets
    assert not any(j.keep_weights for j in second)
    assert [j.job_id for j in second] == ["global-s0.8000-r2-rewind0", "global-s0.8000-r2-rewind1",
                                          "global-s0.8000-r2-control"]


def test_shards_interleave_the_plan_and_cover_it_once():
    jobs = oneshot_jobs(SPECS, grid((0, 1, 2), 3))
    shards = [Shard.parse(f"{i}/4").take(jobs) for i in range(4)]
    assert sorted(j.job_id for shard in shards for j in shard) == sorted(j.job_id for j in jobs)
    assert [j.steps for j in shards[0]] == [30, 20]  # jobs 0 and 4: a long and a shorter one
    for text in ("2/2", "a/b", "1"):
        with pytest.raises(UserInputError, match="--shard"):
            Shard.parse(text)
