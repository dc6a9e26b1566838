import hashlib
import json
import shutil

import numpy as np
import pytest

from pipelines.data import tfrecord
from pipelines.data.decode import decode_pil
from pipelines.data.preprocess import PreprocessSettings, plan_shards, preprocess, write_shard
from pipelines.data.source import ImageFolderSource
from pipelines.engines import EngineSettings
from pipelines.errors import UserInputError

LOCAL = EngineSettings("local", workers=2)
SETTINGS = PreprocessSettings(size=24, shards=3)


def read_shard(path):
    import tensorflow as tf

    features = {k: tf.io.FixedLenFeature([], t) for k, t in
                [("image", tf.string), ("size", tf.int64), ("label", tf.int64), ("wnid", tf.string), ("path", tf.string)]}
    for record in tf.data.TFRecordDataset(str(path)):
        parsed = tf.io.parse_single_example(record, features)
        size = int(parsed["size"])
        yield {"image": np.frombuffer(parsed["image"].numpy(), np.uint8).reshape(size, size, 3),
               "label": int(parsed["label"]), "wnid": parsed["wnid"].numpy().decode(),
               "path": parsed["path"].numpy().decode()}


def all_records(out):
    return [r for shard in sorted(out.glob("*.tfrecord")) for r in read_shard(shard)]


def test_records_and_examples_are_those_tensorflow_writes_and_reads(tmp_path):
    """pipelines.data.tfrecord writes what the workers write without TensorFlow: each framed record
    byte for byte as tf.io.TFRecordWriter frames it, each Example the message TensorFlow builds."""
    import tensorflow as tf

    payloads = [b"", b"x", bytes(range(256)) * 600]  # empty, tiny, over the 2-byte varint lengths
    theirs = tmp_path / "theirs.tfrecord"
    with tf.io.TFRecordWriter(str(theirs)) as writer:
        for payload in payloads:
            writer.write(payload)
    assert b"".join(map(tfrecord.record, payloads)) == theirs.read_bytes()

    values = {"image": bytes(range(200)) * 2, "size": 224, "label": 0, "big": 2**40, "negative": -3,
              "name": "n01440764/caf\udce9.JPEG".encode(errors="surrogateescape")}
    feature = lambda v: (tf.train.Feature(bytes_list=tf.train.BytesList(value=[v])) if isinstance(v, bytes)  # noqa: E731
                         else tf.train.Feature(int64_list=tf.train.Int64List(value=[v])))
    built = tf.train.Example(features=tf.train.Features(feature={k: feature(v) for k, v in values.items()}))
    assert tf.train.Example.FromString(tfrecord.example(values)) == built
    (tmp_path / "ours.tfrecord").write_bytes(tfrecord.record(tfrecord.example(values)))
    [read] = tf.data.TFRecordDataset(str(tmp_path / "ours.tfrecord"))  # its CRCs checked as it reads
    parsed = tf.io.parse_single_example(read, {"big": tf.io.FixedLenFeature([], tf.int64),
                                              "negative": tf.io.FixedLenFeature([], tf.int64),
                                              "name": tf.io.FixedLenFeature([], tf.string)})
    assert (int(parsed["big"]), int(parsed["negative"]), parsed["name"].numpy()) == (2**40, -3, values["name"])


@pytest.fixture
def with_bad_files(tiny_data, tmp_path):
    """The tiny set plus an empty file, a truncated JPEG and an HTML page behind .JPEG names."""
    root = tmp_path / "src"
    shutil.copytree(tiny_data, root)
    folder = root / "train" / "n90000001"
    good = next(folder.glob("*.JPEG")).read_bytes()
    (folder / "empty.JPEG").write_bytes(b"")
    (folder / "truncated.JPEG").write_bytes(good[: len(good) // 3])
    (folder / "page.JPEG").write_bytes(b"<html><body>This photo is no longer available</body></html>")
    return root


def test_shards_and_manifest_agree_and_hold_decoded_images(tiny_data, tmp_path):
    out = tmp_path / "out"
    manifest = preprocess(tiny_data, out, SETTINGS, LOCAL)
    assert manifest["ran"] is True and manifest["failed"] == []
    assert manifest["classes"] == ["n90000000", "n90000001", "n90000002"]
    assert manifest["splits"]["train"]["examples"] == 36 and manifest["splits"]["val"]["examples"] == 9
    shards = manifest["splits"]["train"]["files"] + manifest["splits"]["val"]["files"]
    assert [s["name"] for s in manifest["splits"]["train"]["files"]] == [f"train-{i:05d}-of-00003.tfrecord"
                                                                        for i in range(3)]
    for shard in shards:  # each shard's count, size and checksum are those of its file
        data = (out / shard["name"]).read_bytes()
        assert shard["bytes"] == len(data) and shard["sha256"] == hashlib.sha256(data).hexdigest()
        assert shard["examples"] == len(list(read_shard(out / shard["name"])))
    assert json.loads((out / "manifest.json").read_text())["splits"] == manifest["splits"]
    records = all_records(out)
    assert len(records) == 45
    assert sorted(r["path"] for r in records) == sorted(
        [*ImageFolderSource(tiny_data).split("train").paths, *ImageFolderSource(tiny_data).split("val").paths])
    for record in records[:: 5]:  # includes the CMYK, grayscale and PNG files of the tiny set
        np.testing.assert_array_equal(record["image"], decode_pil(open(record["path"], "rb").read(), 24))
        assert f"/{record['wnid']}/" in record["path"] and manifest["classes"][record["label"]] == record["wnid"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *(s["name"] for s in shards)])


def test_bad_files_are_skipped_and_listed_with_reasons(with_bad_files, tmp_path):
    manifest = preprocess(with_bad_files, tmp_path / "out", SETTINGS, LOCAL)
    failed = {f["path"].rsplit("/", 1)[1]: f["reason"] for f in manifest["failed"]}
    assert set(failed) == {"empty.JPEG", "truncated.JPEG", "page.JPEG"}
    assert failed["empty.JPEG"] == failed["page.JPEG"] == "not an image"
    assert failed["truncated.JPEG"].startswith("broken image: image file is truncated")
    assert manifest["splits"]["train"]["examples"] == 36
    assert len(all_records(tmp_path / "out")) == 36 + 9


def test_rerun_over_finished_output_does_nothing(tiny_data, tmp_path):
    out = tmp_path / "out"
    preprocess(tiny_data, out, SETTINGS, LOCAL)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = preprocess(tiny_data, out, SETTINGS, LOCAL)
    assert again["ran"] is False
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    with pytest.raises(UserInputError, match="other parameters"):
        preprocess(tiny_data, out, PreprocessSettings(size=32, shards=3), LOCAL)


def test_rerun_after_a_crash_completes_without_duplicates(tiny_data, tmp_path):
    out = tmp_path / "out"
    source = ImageFolderSource(tiny_data)
    tasks = plan_shards(source, out, SETTINGS, cores=2)
    # A crashed run: the job marker, two finished shards, and one shard caught mid-write.
    from pipelines.data.preprocess import _saved_results, _job_identity

    _saved_results(out, _job_identity(source, SETTINGS))
    write_shard(tasks[0])
    write_shard(tasks[1])
    (out / f".{tasks[2].name}.partial").write_bytes(b"half a shard")
    finished = {p.name: p.read_bytes() for p in out.glob("*.tfrecord")}

    manifest = preprocess(tiny_data, out, SETTINGS, LOCAL)
    assert manifest["resumed_shards"] == 2
    assert {n: (out / n).read_bytes() for n in finished} == finished  # not redone
    records = all_records(out)
    assert len(records) == len({r["path"] for r in records}) == 45
    assert not list(out.glob(".*")) and manifest["splits"]["train"]["examples"] == 36


def test_foreign_output_folder_is_refused(tiny_data, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("mine")
    with pytest.raises(UserInputError, match="holds other files"):
        preprocess(tiny_data, tmp_path / "out", SETTINGS, LOCAL)


@pytest.mark.slow
def test_spark_writes_the_same_shards_as_the_local_pool(with_bad_files, tmp_path):
    local = preprocess(with_bad_files, tmp_path / "local", SETTINGS, LOCAL)
    spark = preprocess(with_bad_files, tmp_path / "spark", SETTINGS, EngineSettings("spark"))
    assert spark["engine"] == "spark"
    # the digest covers the engine's name, so it differs too
    same = lambda manifest: {k: v for k, v in manifest.items() if k not in ("engine", "timing", "digest")}  # noqa: E731
    assert same(spark) == same(local)
    assert spark["timing"]["images"] == local["timing"]["images"] == 48
    for name in (s["name"] for s in local["splits"]["train"]["files"] + local["splits"]["val"]["files"]):
        assert (tmp_path / "spark" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_a_killed_runs_lock_file_and_partial_shards_are_its_own_and_go(tiny_data, tmp_path):
    """A SIGKILLed run leaves its lock file (pipelines.folder_lock) and partial shards, named per writer
    (`.<shard>.<pid>.partial`) or, from older runs, not: the rerun takes them as its own and removes them."""
    from pipelines.data.preprocess import _job_identity, _saved_results
    from pipelines.folder_lock import LOCK_NAME

    out = tmp_path / "out"
    _saved_results(out, _job_identity(ImageFolderSource(tiny_data), SETTINGS))
    for name in (LOCK_NAME, ".train-00000-of-00003.tfrecord.partial", ".train-00001-of-00003.tfrecord.4242.partial"):
        (out / name).write_bytes(b"from the killed run")
    manifest = preprocess(tiny_data, out, SETTINGS, LOCAL)
    assert manifest["splits"]["train"]["examples"] == 36 and not list(out.glob(".*"))
