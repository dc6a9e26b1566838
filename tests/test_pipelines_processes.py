"""The decode workers of the `processes` pipeline (and of evaluation without TensorFlow): they start
with the first batch and are gone once its generator is dropped or its command is killed; a file
they cannot decode is named; evaluation through them reads the split once, in order."""

import multiprocessing
import os
import shutil

import numpy as np
import psutil
import pytest

from pipelines.data import online
from pipelines.data.online import evaluation
from pipelines.data.shards import naming_bad_input
from pipelines.data.source import ImageFolderSource
from pipelines.errors import UserInputError
from tests.test_orphans import spawned_workers, survivors_of_kill


def decode_workers() -> list:
    return [p for p in multiprocessing.active_children() if p.name == "decode-worker"]


def test_workers_start_with_the_first_batch_and_end_when_the_generator_is_dropped(tiny_data):
    stream = online.build("processes", ImageFolderSource(tiny_data).split("train"),
                          online.PipelineSpec(32, 8, workers=2))
    assert decode_workers() == []
    next(stream)
    pids = [p.pid for p in decode_workers()]
    assert len(pids) == 2
    del stream
    assert decode_workers() == [] and not any(map(psutil.pid_exists, pids))


def test_a_file_the_workers_cannot_decode_ends_reading_in_one_line_naming_it(tiny_data, tmp_path):
    source = ImageFolderSource(shutil.copytree(tiny_data, tmp_path / "data"))
    split = source.split("train")
    with open(split.paths[5], "wb") as broken:
        broken.write(b"not an image at all")
    stream = online.build("processes", split, online.PipelineSpec(32, 12, shuffle=False, workers=2))
    with pytest.raises(UserInputError, match=f"cannot be read or decoded \\({split.paths[5]}: not an image\\)"):
        with naming_bad_input(source, "train"):
            next(stream)
    assert decode_workers() == []  # the error ended the generator, and the generator its workers


def test_evaluation_without_tensorflow_reads_every_image_once_in_order(tiny_data, monkeypatch):
    split = ImageFolderSource(tiny_data).split("val")  # 9 images: batches of 4, 4 and 1
    spec = online.PipelineSpec(32, 4, shuffle=False, workers=2)
    with_tf = list(online.evaluation_dataset(split, spec))
    monkeypatch.setattr(evaluation, "tensorflow_installed", lambda: False)
    without = list(online.evaluation_dataset(split, spec))
    assert [len(y) for _, y in without] == [4, 4, 1]
    np.testing.assert_array_equal(np.concatenate([y for _, y in without]), split.labels)
    difference = np.concatenate([x for x, _ in without]).astype(int) - np.concatenate([x for x, _ in with_tf])
    assert np.abs(difference).mean() < 3  # PIL against TensorFlow: rounding


@pytest.mark.slow
def test_workers_die_with_a_killed_command(tiny_data, tmp_path):
    args = ("run", "--variant", "data-processes", "--data", tiny_data, "--workload", "smoke", "--steps", "1000000",
            "--sample-interval", "0", "--results", tmp_path / "results")
    cores = len(os.sched_getaffinity(0))
    assert survivors_of_kill(args, lambda family: spawned_workers(family) >= cores, tmp_path / "stderr") == []
