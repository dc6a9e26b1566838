"""`harness data fetch`: real data sets by name, from tiny archives in each real format (no internet)."""

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.loopback import serving
from archives import cifar_tgz, idx_bytes, jpeg, mnist_files, register, remotes, sha256, tree_tgz
from pipelines.data.catalog import DATASETS, IMAGENETTE, MIRROR_ENV, with_mirror
from pipelines.data.fetch import fetch
from pipelines.data.shards import ShardSource
from pipelines.data.source import ImageFolderSource
from pipelines.errors import UserInputError

MNIST_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")
WRAPPER = Path(__file__).with_name("fetch_cli.py")
WNIDS = tuple(w for w, _ in IMAGENETTE)


def one_line(error: str) -> str:
    lines = [line for line in error.splitlines() if line.strip()]
    assert len(lines) == 1, error
    return lines[0]


def cli(*args, entries=(), tmp_path=None, **popen):
    """The command line with test `entries` ({name, base, files, train, val}) in its catalog."""
    listing = tmp_path / "entries.json"
    listing.write_text(json.dumps(list(entries)))
    env = {**os.environ, "LTH_TEST_DATASETS": str(listing)}
    command = [sys.executable, str(WRAPPER), *map(str, args)]
    if popen:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def spec(name, base, folder, names, train, val, urls=lambda n: ()):
    return {"name": name, "base": base, "train": train, "val": val,
            "files": [[r.name, r.size, r.sha256, list(r.urls)] for r in remotes(folder, names, urls)]}


@pytest.fixture
def mnist(tmp_path, monkeypatch):
    """An MNIST-shaped entry `test-mnist` (30 train, 10 val) and its files in tmp/mnist-files."""
    folder = tmp_path / "mnist-files"
    arrays = mnist_files(folder, 30, 10)
    register(monkeypatch, "mnist", "test-mnist", remotes(folder, MNIST_NAMES), 30, 10)
    return folder, arrays


def test_idx_files_unpack_to_digit_folders_with_their_pixels(mnist, tmp_path):
    folder, arrays = mnist
    record = fetch("test-mnist", tmp_path / "out", archives=[folder])
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "train").iterdir()) == [str(d) for d in range(10)]
    assert record["counts"] == {"train": 30, "val": 10} and record["ran"]
    assert record["per_class"]["train"]["3"] == 3 and len(list((out / "val" / "3").iterdir())) == 1
    images, labels = arrays["train"]
    assert labels[13] == 3
    assert np.array_equal(np.asarray(Image.open(out / "train" / "3" / "13.png")), images[13])
    saved = json.loads((out / "dataset.json").read_text())
    assert saved["dataset"] == "test-mnist" and saved["license"] == "CC BY-SA 3.0"
    assert {f["name"]: f["sha256"] for f in saved["files"]} == {r.name: r.sha256 for r in
                                                                 DATASETS["test-mnist"].files}
    assert saved["files"][0]["source"] == str((folder / MNIST_NAMES[0]).resolve())
    assert [c["folder"] for c in saved["classes"]] == [str(d) for d in range(10)]
    assert not (tmp_path / "out.partial").exists()
    source = ImageFolderSource(out)  # the harness's reader takes it as it is
    assert len(source.split("train")) == 30 and source.classes == tuple(str(d) for d in range(10))
    again = fetch("test-mnist", out, archives=[folder])
    assert again["ran"] is False
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="does not hold test-mnist"):
        fetch("test-mnist", tmp_path / "other", archives=[folder])
    with pytest.raises(UserInputError, match="is a file"):
        fetch("test-mnist", tmp_path / "other" / "notes.txt", archives=[folder])


@pytest.mark.parametrize("kind, base, first", [("cifar10", "cifar10", "0-airplane"), ("cifar100", "cifar100", "00-apple")])
def test_cifar_batches_unpack_to_label_ordered_folders(kind, base, first, tmp_path, monkeypatch):
    archive = tmp_path / DATASETS[base].files[0].name
    classes = len(DATASETS[base].classes)
    arrays = cifar_tgz(archive, kind, train=classes + 7, val=classes)
    register(monkeypatch, base, f"test-{kind}", remotes(tmp_path, [archive.name]), classes + 7, classes)
    record = fetch(f"test-{kind}", tmp_path / "out", archives=[archive])
    folders = sorted(p.name for p in (tmp_path / "out" / "train").iterdir())
    assert folders[0] == first and len(folders) == classes and record["counts"] == {"train": classes + 7,
                                                                                     "val": classes}
    assert [c["folder"] for c in record["classes"]] == folders  # sorted order is label order
    rows, labels = arrays["train"]
    index = classes + 3  # in the last batch for CIFAR-10, which splits its rows over five
    png = tmp_path / "out" / "train" / folders[labels[index]] / f"{index:02d}.png"
    expected = rows[index].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(np.asarray(Image.open(png)), expected)
    assert np.asarray(Image.open(png))[0, 0, 1] == rows[index][1024]  # green's first byte


@pytest.fixture
def nette(tmp_path, monkeypatch):
    """An Imagenette-shaped entry `test-nette` (2 train, 1 val per class)."""
    archive = tmp_path / "imagenette2-160.tgz"
    tree_tgz(archive, "imagenette2-160", WNIDS, 2, 1)
    register(monkeypatch, "imagenette-160", "test-nette", remotes(tmp_path, [archive.name]), 20, 10)
    return archive


def test_an_imagenette_tarball_is_extracted_as_wnid_folders(nette, tmp_path):
    record = fetch("test-nette", tmp_path / "out", archives=[nette])
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "val").iterdir()) == sorted(WNIDS) and not (out / "noisy_imagenette.csv").exists()
    assert (out / "train" / WNIDS[1] / f"{WNIDS[1]}_1.JPEG").read_bytes() == jpeg(101)
    assert record["classes"][0] == {"label": 0, "folder": "n01440764", "name": "tench"}
    assert record["per_class"]["val"] == {w: 1 for w in WNIDS}


def test_a_file_without_a_pinned_sha256_is_checked_by_size_and_its_hash_recorded(tmp_path, monkeypatch):
    archive = tmp_path / "imagewoof2-160.tgz"
    wnids = DATASETS["imagewoof-160"].folders
    tree_tgz(archive, "imagewoof2-160", wnids, 1, 1)
    (pinned,) = remotes(tmp_path, [archive.name])
    register(monkeypatch, "imagewoof-160", "test-woof", (replace(pinned, sha256=""),), 10, 10)
    record = fetch("test-woof", tmp_path / "out", archives=[archive])
    assert record["files"][0]["sha256"] == pinned.sha256 and record["files"][0]["sha256_pinned"] is False
    register(monkeypatch, "imagewoof-160", "test-woof-size", (replace(pinned, sha256="", size=pinned.size + 1),), 10, 10)
    with pytest.raises(UserInputError, match=f"{pinned.size} bytes, not {pinned.size + 1}"):
        fetch("test-woof-size", tmp_path / "out2", archives=[archive])


@pytest.mark.parametrize("member", ["../evil.JPEG", "/tmp/evil.JPEG", "link"])
def test_a_member_outside_the_folder_or_a_link_is_refused(member, tmp_path, monkeypatch):
    archive = tmp_path / "imagenette2-160.tgz"
    tree_tgz(archive, "imagenette2-160", WNIDS[:1], 1, 1)
    evil = tarfile.TarInfo(member if member != "link" else f"imagenette2-160/train/{WNIDS[0]}/a.JPEG")
    if member == "link":
        evil.type, evil.linkname = tarfile.SYMTYPE, "/etc/passwd"
    tree_tgz(archive, "imagenette2-160", WNIDS[:1], 1, 1, extra=[(evil, b"")])
    register(monkeypatch, "imagenette-160", "test-evil", remotes(tmp_path, [archive.name]), 1, 1)
    with pytest.raises(UserInputError, match="refused") as caught:
        fetch("test-evil", tmp_path / "out", archives=[archive])
    one_line(str(caught.value))
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    assert not (tmp_path / "evil.JPEG").exists()


def test_a_truncated_or_foreign_archive_is_one_line(tmp_path, monkeypatch):
    folder = tmp_path / "files"
    mnist_files(folder, 10, 10)
    cut = folder / MNIST_NAMES[0]
    cut.write_bytes(cut.read_bytes()[:-100])
    register(monkeypatch, "mnist", "test-cut", remotes(folder, MNIST_NAMES), 10, 10)
    with pytest.raises(UserInputError, match="not a complete gzip file") as caught:
        fetch("test-cut", tmp_path / "out", archives=[folder])
    assert str(cut) in one_line(str(caught.value))
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"<html>not found</html>")
    register(monkeypatch, "cifar10", "test-html", remotes(tmp_path, [archive.name]), 1, 1)
    with pytest.raises(UserInputError, match="not a complete tar.gz") as caught:
        fetch("test-html", tmp_path / "out2", archives=[archive])
    one_line(str(caught.value))
    (folder / MNIST_NAMES[1]).write_bytes(idx_bytes(np.zeros(10), 2051))  # labels with the images' magic
    cut.write_bytes(idx_bytes(np.zeros((10, 28, 28)), 2051))
    register(monkeypatch, "mnist", "test-magic", remotes(folder, MNIST_NAMES), 10, 10)
    with pytest.raises(UserInputError, match="magic 2051, expected 2049"):
        fetch("test-magic", tmp_path / "out3", archives=[folder])
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())


def test_a_wrong_checksum_exits_2_naming_the_file_and_leaves_nothing(tmp_path, mnist):
    folder, _ = mnist
    entry = spec("test-mnist", "mnist", folder, MNIST_NAMES, 30, 10)
    entry["files"][2][2] = "0" * 64
    result = cli("data", "fetch", "test-mnist", tmp_path / "out", "--archive", folder, entries=[entry],
                 tmp_path=tmp_path)
    assert result.returncode == 2 and MNIST_NAMES[2] in one_line(result.stderr), result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_list_and_unknown_names(tmp_path):
    listed = cli("data", "fetch", "--list", tmp_path=tmp_path)
    assert listed.returncode == 0 and "imagenette-160" in listed.stdout and "CC BY-SA 3.0" in listed.stdout
    rows = json.loads(cli("data", "fetch", "--list", "--json", tmp_path=tmp_path).stdout.splitlines()[-1])["datasets"]
    assert [r["name"] for r in rows] == list(DATASETS)
    cifar = next(r for r in rows if r["name"] == "cifar10")
    assert (cifar["bytes"], cifar["classes"], cifar["train"], cifar["val"]) == (170498071, 10, 50000, 10000)
    assert [r["sha256_pinned"] for r in rows if r["name"] == "imagewoof-160"] == [False]
    unknown = cli("data", "fetch", "imagenet-22k", tmp_path / "out", tmp_path=tmp_path)
    assert unknown.returncode == 2 and "mnist, fashion-mnist, cifar10" in one_line(unknown.stderr)


def test_fetch_over_http_skips_a_404_mirror_and_survives_a_sigkill(tmp_path):
    folder = tmp_path / "files"
    mnist_files(folder, 1500, 20)  # train images: 1.2 MB that does not compress, to cut mid-way
    pace = {"now": (16384, 0.02)}  # ~0.8 MB/s, then at full speed for the rerun
    with serving() as server:
        for name in MNIST_NAMES:  # /gone/<name> has no route: 404
            server.routes[f"/good/{name}"] = lambda handler, hit, data=(folder / name).read_bytes(): \
                handler.send_file(data, pace=pace["now"])
        entry = spec("test-http", "mnist", folder, MNIST_NAMES, 1500, 20,
                     urls=lambda n: (server.url(f"/gone/{n}"), server.url(f"/good/{n}")))
        out = tmp_path / "out"
        run = cli("data", "fetch", "test-http", out, "--json", entries=[entry], tmp_path=tmp_path, popen=True)
        partial = tmp_path / "out.partial" / ".downloads" / f"{MNIST_NAMES[0]}.partial"
        deadline = time.monotonic() + 60
        while not (partial.exists() and partial.stat().st_size > 200_000) and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            time.sleep(0.02)
        run.send_signal(signal.SIGKILL)
        run.communicate()
        assert not out.exists() and partial.stat().st_size > 200_000
        pace["now"] = None
        done = cli("data", "fetch", "test-http", out, "--json", entries=[entry], tmp_path=tmp_path)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout.splitlines()[-1])
        assert summary["counts"] == {"train": 1500, "val": 20} and summary["ran"] is True
        images = next(f for f in summary["files"] if f["name"] == MNIST_NAMES[0])
        assert images["source"] == server.url(f"/good/{MNIST_NAMES[0]}")
        resumed = images["transfer"]["resumed_from"]
        assert resumed > 200_000 and any(r.range == f"bytes={resumed}-" for r in server.requests)
        assert images["transfer"]["failed_mirrors"][0][0] == server.url(f"/gone/{MNIST_NAMES[0]}")
    assert sum(1 for _ in (out / "train").rglob("*.png")) == 1500 and not (tmp_path / "out.partial").exists()
    again = cli("data", "fetch", "test-http", out, entries=[entry], tmp_path=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stdout


@pytest.mark.parametrize("base", ["cifar10", "imagenette-160"])
def test_a_tarball_served_over_http_is_fetched_verified_and_unpacked(base, tmp_path, monkeypatch):
    """CIFAR's pickled batches and an Imagenette-shaped tarball, each from a loopback host as from its own."""
    archive = tmp_path / DATASETS[base].files[0].name
    if base == "cifar10":
        cifar_tgz(archive, "cifar10", train=17, val=10)
        counts = {"train": 17, "val": 10}
    else:
        tree_tgz(archive, "imagenette2-160", WNIDS, 2, 1)
        counts = {"train": 20, "val": 10}
    with serving() as server:
        server.routes[f"/host/{archive.name}"] = lambda handler, hit, data=archive.read_bytes(): \
            handler.send_file(data)
        register(monkeypatch, base, f"test-{base}", remotes(tmp_path, [archive.name],
                                                            lambda n: (server.url(f"/host/{n}"),)), *counts.values())
        record = fetch(f"test-{base}", tmp_path / "out")
    [file] = record["files"]
    assert record["counts"] == counts and file["source"] == server.url(f"/host/{archive.name}")
    assert file["transfer"]["bytes_fetched"] == archive.stat().st_size and file["sha256"] == sha256(archive)
    assert sum(1 for _ in (tmp_path / "out" / "train").rglob("*.*")) == counts["train"]
    assert not (tmp_path / "out.partial").exists()


def test_a_site_mirror_is_tried_first_by_option_or_variable(tmp_path, monkeypatch):
    folder = tmp_path / "files"
    mnist_files(folder, 10, 10)
    with pytest.raises(UserInputError, match="not an http"):
        with_mirror(DATASETS["mnist"], "/some/folder")
    mirrored = with_mirror(DATASETS["mnist"], "http://mirror.example/mnist")
    assert mirrored.files[0].urls == ("http://mirror.example/mnist/train-images-idx3-ubyte.gz",
                                      *DATASETS["mnist"].files[0].urls)
    with serving() as server:
        for name in MNIST_NAMES:
            server.routes[f"/site/{name}"] = lambda handler, hit, data=(folder / name).read_bytes(): \
                handler.send_file(data)
        entry = spec("test-site", "mnist", folder, MNIST_NAMES, 10, 10, urls=lambda n: (server.url(f"/gone/{n}"),))
        monkeypatch.setenv(MIRROR_ENV, server.url("/site"))
        result = cli("data", "fetch", "test-site", tmp_path / "out", "--json", entries=[entry], tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout.splitlines()[-1])["files"]
    assert {f["source"] for f in files} == {server.url(f"/site/{n}") for n in MNIST_NAMES}
    assert not any(r.path.startswith("/gone/") for r in server.requests)


@pytest.mark.slow
def test_the_fetched_folder_feeds_shards_and_a_search(tmp_path, harness_cli):
    folder = tmp_path / "files"
    mnist_files(folder, 40, 10, classes=3)
    entry = spec("test-three", "mnist", folder, MNIST_NAMES, 40, 10)
    out = tmp_path / "out"
    result = cli("data", "fetch", "test-three", out, "--archive", folder, "--shards", "--json", entries=[entry],
                 tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["shards"]["examples"] == {"train": 40, "val": 10}
    assert ShardSource(out / "shards").manifest["classes"] == ["0", "1", "2"]
    search = harness_cli("lth", "--data", out, "--workload", "lenet-smoke", "--epochs", "1", "--rewind", "0",
                         "--sparsity", "0.5", "--scope", "layer", "--out", tmp_path / "search", "--json")
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout.splitlines()[-1])
