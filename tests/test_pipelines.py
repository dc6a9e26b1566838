import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines.data import online
from pipelines.data.online import cached
from pipelines.data.preprocess import PreprocessSettings, preprocess
from pipelines.data.shards import ShardSource
from pipelines.data.source import ImageFolderSource
from pipelines.engines import EngineSettings
from pipelines.errors import UserInputError

INDEXED = ["naive", "parallel", "vectorized", "prefetched"]


def batches(name, split, spec, count):
    """The first `count` batches as numpy arrays, whatever the pipeline builds (tf.data or numpy)."""
    return [(np.asarray(x), np.asarray(y)) for x, y in itertools.islice(online.build(name, split, spec), count)]


def labels_and_images(batch_list):
    return np.concatenate([y for _, y in batch_list]), np.concatenate([x for x, _ in batch_list]).astype(int)


@pytest.fixture(scope="module")
def split(tiny_data):
    return ImageFolderSource(tiny_data).split("train")


@pytest.fixture(scope="module")
def shards(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "out"
    preprocess(tiny_data, out, PreprocessSettings(size=32, shards=3), EngineSettings("local", workers=1))
    return ShardSource(out).split("train")


@pytest.mark.parametrize("name", INDEXED[1:])
def test_indexed_pipelines_match_naive_in_order_and_pixels(split, name):
    spec = online.PipelineSpec(image_size=32, batch_size=8, seed=11)
    count = 6  # 48 examples: crosses the 36-image epoch into a reshuffled second epoch
    naive_labels, naive_images = labels_and_images(batches("naive", split, spec, count))
    labels, images = labels_and_images(batches(name, split, spec, count))
    assert images.shape == (48, 32, 32, 3)
    np.testing.assert_array_equal(labels, naive_labels)
    assert np.abs(images - naive_images).mean() < 3
    assert sorted(labels[:36]) == sorted(split.labels)
    assert not np.array_equal(labels[:12], labels[36:48])


def test_seed_changes_the_order(split):
    a, _ = labels_and_images(batches("parallel", split, online.PipelineSpec(32, 12, seed=1), 3))
    b, _ = labels_and_images(batches("parallel", split, online.PipelineSpec(32, 12, seed=2), 3))
    assert not np.array_equal(a, b)


def test_cached_in_path_order_matches_parallel(split, tmp_path):
    for cache_dir in (None, str(tmp_path / "cache")):
        spec = online.PipelineSpec(32, 12, shuffle=False, cache_dir=cache_dir)
        labels, images = labels_and_images(batches("cached", split, spec, 6))  # two epochs: the second from cache
        reference, reference_images = labels_and_images(batches("parallel", split, spec, 6))
        np.testing.assert_array_equal(labels, reference)
        np.testing.assert_array_equal(images, reference_images)
    assert list((tmp_path / "cache").glob("train-32px-*.index"))


def test_cached_shuffles_within_each_epoch(split):
    labels, _ = labels_and_images(batches("cached", split, online.PipelineSpec(32, 12, seed=3), 6))
    assert sorted(labels[:36]) == sorted(labels[36:]) == sorted(split.labels)
    assert not np.array_equal(labels[:36], np.array(split.labels))


def test_memory_cache_larger_than_free_memory_is_refused():
    with pytest.raises(UserInputError, match="needs .* GiB but .* GiB is free: pass --cache-dir"):
        cached.check_memory_cache_fits(10**9, 224)


def test_offline_yields_the_same_examples_as_the_image_files(split, shards):
    """Each offline example is, up to resize rounding, the decoded image of a file with the same label."""
    assert shards.examples == len(split)
    labels, images = labels_and_images(batches("offline", shards, online.PipelineSpec(32, 12, seed=5), 3))
    ref_labels, ref_images = labels_and_images(batches("parallel", split, online.PipelineSpec(32, 36, shuffle=False), 1))
    for label, image in zip(labels, images):
        nearest = np.abs(ref_images - image).mean(axis=(1, 2, 3)).argmin()
        assert np.abs(ref_images[nearest] - image).mean() < 3
        assert ref_labels[nearest] == label
    assert set(labels) == set(split.labels)


def test_offline_resizes_when_the_workload_differs(shards):
    images, _ = next(iter(online.build("offline", shards, online.PipelineSpec(16, 4))))
    assert images.shape == (4, 16, 16, 3)


def test_pipeline_and_source_kinds_must_agree(split, shards):
    with pytest.raises(UserInputError, match="harness data preprocess"):
        online.build("offline", split, online.PipelineSpec(32, 8))
    with pytest.raises(UserInputError, match="reads image files"):
        online.build("parallel", shards, online.PipelineSpec(32, 8))


def test_processes_decode_naives_pixels_in_parallels_order(split):
    spec = online.PipelineSpec(image_size=32, batch_size=8, seed=11, workers=2)
    labels, images = labels_and_images(batches("processes", split, spec, 6))  # across two epochs, as above
    naive_labels, naive_images = labels_and_images(batches("naive", split, spec, 6))
    np.testing.assert_array_equal(labels, labels_and_images(batches("parallel", split, spec, 6))[0])
    np.testing.assert_array_equal(labels, naive_labels)
    np.testing.assert_array_equal(images, naive_images)


FIT_ON_JAX = """
import sys
import keras
from pipelines.data import online
from pipelines.data.shards import ShardSource
from pipelines.data.source import ImageFolderSource

images, shards = ImageFolderSource(sys.argv[1]).split("train"), ShardSource(sys.argv[2]).split("train")
spec = online.PipelineSpec(image_size=16, batch_size=4, workers=1)
for entry in online.PIPELINES.entries():
    dataset = online.build(entry.name, shards if entry.value.reads == online.SHARDS else images, spec)
    model = keras.Sequential([keras.Input((16, 16, 3), dtype="uint8"), keras.layers.Rescaling(1 / 255),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(online.for_keras(dataset, spec), epochs=1, steps_per_epoch=2, verbose=0)
    print(entry.name, keras.backend.backend(), online.is_tf_dataset(dataset), history.history["loss"][-1] > 0)
"""


def test_every_pipeline_feeds_keras_on_jax(tiny_data, shards):
    """On JAX, Keras takes each pipeline as built: the tf.data ones (TensorFlow installed) and the numpy ones."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", FIT_ON_JAX, str(tiny_data), str(os.path.dirname(shards.files[0]))],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    fed = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert fed == {entry.name: ["jax", str(entry.value.needs_tensorflow), "True"] for entry in online.PIPELINES.entries()}
