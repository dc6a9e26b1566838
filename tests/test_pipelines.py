import numpy as np

from pipelines.data import online
from pipelines.data.source import ImageFolderSource


def first_batches(name, split, spec, count):
    return [(x.numpy(), y.numpy()) for x, y in online.build(name, split, spec).take(count)]


def test_naive_and_parallel_yield_the_same_examples(tiny_data):
    split = ImageFolderSource(tiny_data).split("train")
    spec = online.PipelineSpec(image_size=32, batch_size=8, seed=11)
    count = 6  # 48 examples: crosses the 36-image epoch boundary into a reshuffled second epoch
    naive, parallel = first_batches("naive", split, spec, count), first_batches("parallel", split, spec, count)
    for (xn, yn), (xp, yp) in zip(naive, parallel):
        assert xn.shape == xp.shape == (8, 32, 32, 3) and xn.dtype == np.uint8
        np.testing.assert_array_equal(yn, yp)
        assert np.abs(xn.astype(int) - xp.astype(int)).mean() < 3
    labels = np.concatenate([y for _, y in naive])
    assert sorted(labels[:36]) == sorted(split.labels)
    assert not np.array_equal(labels[:12], labels[36:48])


def test_seed_changes_the_order(tiny_data):
    split = ImageFolderSource(tiny_data).split("train")
    a = first_batches("parallel", split, online.PipelineSpec(32, 12, seed=1), 3)
    b = first_batches("parallel", split, online.PipelineSpec(32, 12, seed=2), 3)
    assert not np.array_equal(np.concatenate([y for _, y in a]), np.concatenate([y for _, y in b]))
