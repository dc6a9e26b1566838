import shutil

import numpy as np
import pytest
from PIL import Image

from pipelines.data.synth import IMAGENET_MEAN_SIZE, SynthSpec, build, render_image
from pipelines.errors import UserInputError


def tree_bytes(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    spec = SynthSpec(classes=2, train_per_class=3, val_per_class=1, seed=3, odd_every=2)
    build(tmp_path / "a", spec)
    build(tmp_path / "b", spec)
    build(tmp_path / "c", SynthSpec(classes=2, train_per_class=3, val_per_class=1, seed=4, odd_every=2))
    a, b, c = (tree_bytes(tmp_path / n) for n in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if k.suffix == ".JPEG")


def test_imagenet_layout_and_odd_formats(tiny_data):
    train = sorted((tiny_data / "train").iterdir())
    assert [p.name for p in train] == ["n90000000", "n90000001", "n90000002"]
    assert all(len(list(p.glob("*.JPEG"))) == 12 for p in train)
    modes = set()
    for path in (tiny_data / "train").rglob("*.JPEG"):
        with Image.open(path) as image:
            modes.add((image.format, image.mode))
    assert {("JPEG", "RGB"), ("JPEG", "CMYK"), ("JPEG", "L"), ("PNG", "RGB")} <= modes


def test_sizes_scatter_around_imagenet_mean():
    sizes = np.array([render_image(0, np.random.default_rng(i)).size for i in range(40)])
    assert np.all(np.abs(sizes.mean(axis=0) - IMAGENET_MEAN_SIZE) < [40, 30])
    assert sizes.std(axis=0).min() > 20


def test_classes_are_learnable():
    """A nearest-centroid classifier on the hues of saturated pixels beats chance by far on held-out images."""
    def features(c, i):
        image = render_image(c, np.random.default_rng([99, c, i])).resize((64, 64))
        hsv = np.asarray(image.convert("HSV")).reshape(-1, 3)
        histogram, _ = np.histogram(hsv[hsv[:, 1] > 100, 0], bins=24, range=(0, 256))
        return histogram / max(1, histogram.sum())

    classes = range(6)
    centroids = np.array([np.mean([features(c, i) for i in range(8)], axis=0) for c in classes])
    held_out = [(c, features(c, i)) for c in classes for i in range(8, 12)]
    correct = sum(np.argmin(np.abs(centroids - f).sum(axis=1)) == c for c, f in held_out)
    assert correct / len(held_out) > 0.8  # chance is 1/6


def test_rerun_is_a_no_op_and_a_foreign_folder_is_refused(tmp_path):
    spec = SynthSpec(classes=1, train_per_class=1, val_per_class=1)
    assert build(tmp_path / "d", spec) is True
    assert build(tmp_path / "d", spec) is False
    with pytest.raises(UserInputError, match="already exists"):
        build(tmp_path / "d", SynthSpec(classes=2, train_per_class=1, val_per_class=1))


def test_bad_counts_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="--classes"):
        build(tmp_path / "x", SynthSpec(classes=0))
    assert not (tmp_path / "x").exists()


def test_a_partial_folder_is_removed_only_when_an_interrupted_build_left_it(tmp_path):
    out, spec = tmp_path / "data", SynthSpec(classes=2, train_per_class=1, val_per_class=1, seed=3)
    users = out.with_name("data.partial")
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="data.partial exists and was not left by `harness data synth`"):
        build(out, spec)
    assert (users / "notes.txt").read_text() == "mine" and not out.exists()
    shutil.rmtree(users)
    users.mkdir()
    (users / ".lth-harness-synth-partial").touch()  # as a killed build leaves it
    (users / "half-written.JPEG").write_bytes(b"\xff\xd8")
    assert build(out, spec) and not users.exists()
    assert not (out / ".lth-harness-synth-partial").exists() and not list(out.rglob("half-written*"))
