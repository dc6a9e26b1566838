from pipelines.lth.masks import MaskSpec
import pytest

from pipelines.errors import UserInputError
from pipelines.lth.plan import Shard, iterative_round, oneshot_jobs

SPECS = [MaskSpec("global", 0.5), MaskSpec("global", 0.8)]


def test_oneshot_plan_is_every_mask_by_every_rewind_plus_controls():
    jobs = oneshot_jobs(SPECS, (0, 2), epochs=5, control=True)
    assert [j.job_id for j in jobs] == [
        "global-s0.5000-rewind0", "global-s0.5000-rewind2", "global-s0.5000-control",
        "global-s0.8000-rewind0", "global-s0.8000-rewind2", "global-s0.8000-control"]
    assert [j.epochs for j in jobs[:3]] == [5, 3, 5]  # rewind k retrains the remaining epochs; controls all
    assert {j.mask_id for j in jobs} == {"global-s0.5000", "global-s0.8000"}  # one-shot masks are shared
    assert oneshot_jobs(SPECS, (0, 2), 5, True) == jobs  # stable: the same plan every time


def test_iterative_rounds_chain_masks_per_rewind_and_keep_weights_until_the_last():
    first = iterative_round(SPECS, 1, (0, 1), epochs=3, control=True)
    second = iterative_round(SPECS, 2, (0, 1), epochs=3, control=True)
    assert [j.mask_id for j in first] == ["global-s0.5000"] * 3
    assert [j.mask_id for j in second] == ["global-s0.8000-r2-k0", "global-s0.8000-r2-k1", "global-s0.8000-r2-k0"]
    assert [j.keep_weights for j in first] == [True, True, False]  # the next round prunes the rewinds' tickets
    assert not any(j.keep_weights for j in second)
    assert [j.job_id for j in second] == ["global-s0.8000-r2-rewind0", "global-s0.8000-r2-rewind1",
                                          "global-s0.8000-r2-control"]


def test_shards_interleave_the_plan_and_cover_it_once():
    jobs = oneshot_jobs(SPECS, (0, 1, 2), epochs=3, control=False)
    shards = [Shard.parse(f"{i}/4").take(jobs) for i in range(4)]
    assert sorted(j.job_id for shard in shards for j in shard) == sorted(j.job_id for j in jobs)
    assert [j.epochs for j in shards[0]] == [3, 2]  # jobs 0 and 4: a long and a shorter one
    for text in ("2/2", "a/b", "1"):
        with pytest.raises(UserInputError, match="--shard"):
            Shard.parse(text)
