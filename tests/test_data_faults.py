"""Faults in a person's data and paths: each is one line naming the file or value (exit 2 on the CLI),
never a traceback, never a silent loss; and `data preprocess` removes nothing it did not write."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from pipelines.data import online
from pipelines.data.preprocess import PreprocessSettings, _job_identity, _saved_results, preprocess
from pipelines.data.shards import open_source
from pipelines.data.source import ImageFolderSource
from pipelines.data.synth import encode, render_image
from pipelines.engines import EngineSettings
from pipelines.errors import UserInputError

LOCAL = EngineSettings("local", workers=1)
SETTINGS = PreprocessSettings(size=32, shards=3)
JPEG = encode(render_image(0, np.random.default_rng(0)), None)
NOT_UTF8 = os.fsdecode(b"\xff-name.JPEG")  # a file name whose bytes are not UTF-8


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """The CLI's contract for a mistake in the input: exit 2, one stderr line, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


@pytest.fixture(scope="module")
def finished(tiny_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "shards"
    preprocess(tiny_data, out, SETTINGS, LOCAL)
    return out


@pytest.fixture
def shards(finished, tmp_path) -> Path:
    """A copy of a finished output, for one test to damage."""
    return Path(shutil.copytree(finished, tmp_path / "shards"))


def edit_manifest(folder: Path, change) -> Path:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    return path


# ---- 1: the output folder holds only what the command wrote ----------------------------------------

@pytest.mark.parametrize("name", ["my_dataset.tfrecord", "train-00000-of-00003.tfrecord", ".notes"])
def test_preprocess_refuses_an_output_folder_holding_a_file_it_did_not_write(tiny_data, tmp_path, name):
    out = tmp_path / "o"
    out.mkdir()
    (out / name).write_text("x")
    with pytest.raises(UserInputError, match=f"holds other files \\({name}\\)"):
        preprocess(tiny_data, out, SETTINGS, LOCAL)
    assert [p.name for p in out.iterdir()] == [name] and (out / name).read_text() == "x"


def test_a_resumed_run_removes_nothing_but_its_own_names(tiny_data, tmp_path, harness_cli):
    """An interrupted run (job marker, a finished shard) plus a file of the user's: refused, all kept."""
    out = tmp_path / "o"
    _saved_results(out, _job_identity(ImageFolderSource(tiny_data), SETTINGS))
    (out / "train-00000-of-00003.tfrecord").write_bytes(b"a finished shard")
    (out / "my_dataset.tfrecord").write_text("x")
    before = sorted(p.name for p in out.rglob("*"))
    one_line_error(harness_cli("data", "preprocess", tiny_data, out, "--engine", "local", "--size", "32",
                               "--shards", "3"), str(out), "my_dataset.tfrecord")
    assert sorted(p.name for p in out.rglob("*")) == before


def test_a_finished_run_leaves_none_of_its_own_stale_shards(tiny_data, tmp_path):
    """Resumed on a machine with another core count, the default shard count, and so the names, change."""
    out, settings = tmp_path / "o", PreprocessSettings(size=32)
    _saved_results(out, _job_identity(ImageFolderSource(tiny_data), settings))
    for stale in ("train-00000-of-00099.tfrecord", ".train-00001-of-00099.tfrecord.partial"):
        (out / stale).write_bytes(b"from the interrupted run")
    manifest = preprocess(tiny_data, out, settings, LOCAL)
    names = [s["name"] for split in manifest["splits"].values() for s in split["files"]]
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *names])


# ---- 7: shards are checked against the manifest ---------------------------------------------------

def test_a_truncated_shard_is_named_when_the_source_opens(shards, harness_cli):
    shard = shards / "train-00001-of-00003.tfrecord"
    size = shard.stat().st_size
    shard.write_bytes(shard.read_bytes()[: size // 2])
    with pytest.raises(UserInputError, match=f"{shard} has {size // 2} bytes, the manifest says {size}"):
        open_source(shards)
    one_line_error(harness_cli("run", "--variant", "data-offline", "--data", shards, "--workload", "smoke"),
                   str(shard), "re-run `harness data preprocess")


def test_a_missing_shard_is_named(shards, harness_cli):
    (shards / "val-00000-of-00001.tfrecord").unlink()
    one_line_error(harness_cli("run", "--variant", "data-offline", "--data", shards, "--workload", "smoke"),
                   f"{shards / 'val-00000-of-00001.tfrecord'} is missing")


def test_counts_that_do_not_add_up_or_were_edited_are_refused(shards):
    def total(manifest):
        manifest["splits"]["train"]["examples"] = 40

    edit_manifest(shards, total)
    with pytest.raises(UserInputError, match="the train split counts 40 examples but its shards hold 36"):
        open_source(shards)

    def consistently(manifest):  # the shard's count and the total, edited so that they agree
        manifest["splits"]["train"]["examples"] = 36 + 4
        manifest["splits"]["train"]["files"][0]["examples"] += 4

    edit_manifest(shards, consistently)
    with pytest.raises(UserInputError, match="was changed after `harness data preprocess` wrote it"):
        open_source(shards)


def test_the_older_format_is_refused_with_the_fix(shards, tiny_data):
    path = edit_manifest(shards, lambda manifest: manifest.update(format="lth-harness/shards/1"))
    with pytest.raises(UserInputError, match=f"{path} is of the older shard format .*re-run `harness data preprocess"):
        open_source(shards)


def test_preprocess_redoes_its_own_output_of_the_older_format(shards, tiny_data):
    def older(manifest):  # what format 1 wrote: names only, no checksums, no digest
        manifest.update(format="lth-harness/shards/1")
        del manifest["digest"]
        for split in manifest["splits"].values():
            split["files"] = [shard["name"] for shard in split["files"]]

    edit_manifest(shards, older)
    manifest = preprocess(tiny_data, shards, SETTINGS, LOCAL)
    assert manifest["ran"] is True and manifest["format"] == "lth-harness/shards/2"
    assert open_source(shards).split("train").examples == 36


def flip_a_byte(shard: Path) -> None:
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))


def test_flipped_bytes_are_named_by_checksum_when_a_reader_meets_them(shards):
    from pipelines.data.shards import naming_bad_input

    shard = shards / "train-00002-of-00003.tfrecord"
    flip_a_byte(shard)
    source = open_source(shards)  # same size: opening stays cheap and cannot see it
    dataset = online.build("offline", source.split("train"), online.PipelineSpec(32, 12))
    with pytest.raises(UserInputError, match=f"1 damaged shard\\(s\\): {shard} \\(its sha256 differs"):
        with naming_bad_input(source, "train"):
            for _ in dataset.take(6):
                pass


def test_flipped_bytes_end_a_data_run_with_the_file_named(shards, harness_cli, tmp_path):
    shard = shards / "train-00000-of-00003.tfrecord"
    flip_a_byte(shard)
    one_line_error(harness_cli("run", "--variant", "data-offline", "--data", shards, "--workload", "smoke",
                               "--steps", "4", "--sample-interval", "0", "--results", tmp_path / "results"),
                   str(shard), "re-run `harness data preprocess")


@pytest.mark.slow
def test_flipped_bytes_end_a_training_run_with_the_file_named(shards, harness_cli, tmp_path):
    shard = shards / "train-00001-of-00003.tfrecord"
    flip_a_byte(shard)
    one_line_error(harness_cli("run", "--variant", "cpu-offline", "--data", shards, "--workload", "lenet-smoke",
                               "--steps", "3", "--warmup", "0", "--sample-interval", "0", "--no-verdict",
                               "--results", tmp_path / "results"), str(shard))


def test_an_image_folder_file_that_does_not_decode_ends_reading_in_one_line_with_the_fix(tiny_data, tmp_path):
    from pipelines.data.shards import naming_bad_input

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    next((data / "val").rglob("*.JPEG")).write_bytes(b"not an image at all")
    source = ImageFolderSource(data)
    dataset = online.evaluation_dataset(source.split("val"), online.PipelineSpec(32, 4, shuffle=False))
    with pytest.raises(UserInputError, match=f"a file of {data / 'val'} cannot be read or decoded .*"
                                             f"harness data preprocess {data} OUT"):
        with naming_bad_input(source, "val"):
            for _ in dataset:
                pass


# ---- 8: an invalid manifest.json is named, with what is wrong -------------------------------------

@pytest.mark.parametrize("content, problem", [
    (b"{\"format\": ", "is not valid JSON (Expecting value"),
    (b"\xff\xfe", "is not valid JSON"),
    (b"[1, 2]", "the manifest should be an object"),
])
def test_a_manifest_that_is_not_a_json_object_is_named(shards, content, problem):
    (shards / "manifest.json").write_bytes(content)
    with pytest.raises(UserInputError, match=f"{shards / 'manifest.json'}.*{re.escape(problem)}"):
        open_source(shards)


@pytest.mark.parametrize("change, problem", [
    (lambda m: m.pop("splits"), 'has no "splits" in the manifest'),
    (lambda m: m["splits"]["val"].pop("files"), 'has no "files" in splits.val'),
    (lambda m: m["splits"]["train"].update(examples="36"), 'splits.train.examples should be an integer, not "36"'),
    (lambda m: m.update(classes="n90000000"), "classes should be a list"),
    (lambda m: m["splits"]["train"]["files"][0].update(name="../x"), "is not a plain file name"),
])
def test_a_manifest_without_a_field_or_with_a_wrong_type_is_named(shards, change, problem):
    path = edit_manifest(shards, change)
    with pytest.raises(UserInputError, match=f"{path}.*{re.escape(problem)}"):
        open_source(shards)


def test_a_manifest_without_splits_exits_2_on_the_command_line(shards, harness_cli):
    edit_manifest(shards, lambda manifest: manifest.pop("splits"))
    one_line_error(harness_cli("run", "--variant", "data-offline", "--data", shards, "--workload", "smoke"),
                   str(shards / "manifest.json"), '"splits"')


# ---- 10: sizes in range, and a split that nothing decodes into is an error ------------------------

def test_size_is_bounded_and_the_bounds_are_in_the_help(harness_cli, tiny_data, tmp_path):
    assert "16 to 1024 pixels" in " ".join(harness_cli("data", "preprocess", "--help").stdout.split())
    for size in ("1000000", "8"):
        one_line_error(harness_cli("data", "preprocess", tiny_data, tmp_path / "o", "--size", size),
                       f"--size must be between 16 and 1024 pixels, not {size}")
    assert not (tmp_path / "o").exists()


def test_a_split_that_nothing_decodes_into_is_an_error_and_leaves_no_manifest(tmp_path):
    src, out = tmp_path / "junk", tmp_path / "o"
    for split in ("train", "val"):
        (src / split / "n1").mkdir(parents=True)
        (src / split / "n1" / "a.JPEG").write_bytes(b"<html>gone</html>" if split == "train" else JPEG)
    with pytest.raises(UserInputError, match=f"none of the 1 images of the train split of {src} could be decoded "
                                             f"\\(e.g. {src}/train/n1/a.JPEG: not an image\\)"):
        preprocess(src, out, SETTINGS, LOCAL)
    assert not out.exists()


# ---- 11: names that are not UTF-8, unreadable folders and files, unwritable or wrong outputs ------

def test_a_file_name_that_is_not_utf8_is_read_like_any_other(tiny_data, tmp_path, harness_cli):
    src = Path(shutil.copytree(tiny_data, tmp_path / "src"))
    (src / "train" / "n90000000" / NOT_UTF8).write_bytes(JPEG)
    (src / "train" / "n90000001" / os.fsdecode(b"\xfe-broken.JPEG")).write_bytes(b"junk")
    result = harness_cli("data", "preprocess", src, tmp_path / "o", "--engine", "local", "--size", "32")
    assert result.returncode == 0, result.stderr
    assert "train 37, val 9 examples" in result.stdout and "\\xfe-broken.JPEG: not an image" in result.stdout
    (src / "train" / "n90000001" / os.fsdecode(b"\xfe-broken.JPEG")).unlink()
    import tensorflow as tf

    paths = [tf.train.Example.FromString(r.numpy()).features.feature["path"].bytes_list.value[0]
             for r in tf.data.TFRecordDataset([str(p) for p in (tmp_path / "o").glob("train-*.tfrecord")])]
    assert os.fsencode(src / "train" / "n90000000" / NOT_UTF8) in paths
    split = ImageFolderSource(src).split("train")  # the online pipelines read it too
    labels = np.concatenate([y for _, y in online.build("parallel", split, online.PipelineSpec(32, 37, shuffle=False))
                             .take(1).as_numpy_iterator()])
    assert len(labels) == 37


@pytest.fixture
def shared_tmp():
    """A folder outside pytest's private temp tree, which another user can enter."""
    folder = Path(tempfile.mkdtemp(prefix="lth-faults-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def as_another_user(*argv) -> subprocess.CompletedProcess:
    """`argv` run as an unprivileged user: root ignores permission bits, so root drops to nobody.
    (Such a process cannot start further Python processes here, so it runs nothing through a pool.)"""
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *map(str, argv)], capture_output=True, text=True, timeout=300)


def test_unreadable_folders_and_files_and_an_unwritable_output(tiny_data, shared_tmp):
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("as root, permission bits apply only to another user, and setpriv is missing to become one")
    harness = Path(sys.executable).with_name("harness")
    src = Path(shutil.copytree(tiny_data, shared_tmp / "src"))
    (shared_tmp / "out").mkdir(mode=0o777)
    (shared_tmp / "out").chmod(0o777)
    locked = src / "train" / "n90000001"
    locked.chmod(0)
    one_line_error(as_another_user(harness, "data", "preprocess", src, shared_tmp / "out"),
                   f"cannot read {locked}: Permission denied")
    locked.chmod(0o755)

    (shared_tmp / "ro").mkdir(mode=0o555)
    (shared_tmp / "ro").chmod(0o555)
    for command in (["data", "preprocess", src], ["data", "synth"]):
        one_line_error(as_another_user(harness, *command, shared_tmp / "ro" / "o"),
                       f"cannot write in {shared_tmp / 'ro'}")

    secret, readable = sorted((src / "val" / "n90000002").iterdir())[:2]
    secret.chmod(0)
    shard = ("from pipelines.data.preprocess import ShardTask, write_shard; import json, sys; "
             f"print(json.dumps(write_shard(ShardTask({str(shared_tmp / 'out')!r}, 'val', 0, 1, 32, "
             f"(({str(secret)!r}, 2, 'n90000002'), ({str(readable)!r}, 2, 'n90000002'))))))")
    result = as_another_user(sys.executable, "-c", shard)
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout.splitlines()[-1])
    assert written["failed"] == [{"split": "val", "path": str(secret), "reason": "cannot read: Permission denied"}]


@pytest.mark.parametrize("args", [["synth", "OUT"], ["preprocess", "SRC", "OUT", "--engine", "local"],
                                  ["download", "URLS", "OUT", "--engine", "local"]])
def test_an_output_that_is_a_file_is_refused_before_any_work(harness_cli, tiny_data, tmp_path, args):
    urls, out = tmp_path / "urls.txt", tmp_path / "taken"
    urls.write_text("n01440764_1\thttp://127.0.0.1:9/a.jpg\n")
    out.write_text("mine")
    one_line_error(harness_cli("data", *[{"SRC": tiny_data, "URLS": urls, "OUT": out}.get(a, a) for a in args]),
                   f"OUT {out} is a file, not a folder")
    assert out.read_text() == "mine"


@pytest.mark.parametrize("args", [["synth", "OUT"], ["preprocess", "SRC", "OUT"]])
def test_a_negative_seed_is_refused(harness_cli, tiny_data, tmp_path, args):
    out = tmp_path / "o"
    one_line_error(harness_cli("data", *[{"SRC": tiny_data, "OUT": out}.get(a, a) for a in args], "--seed", "-1"),
                   "--seed must be 0 or more")
    assert not out.exists()
