import shutil

import pytest

from pipelines.data.source import ImageFolderSource
from pipelines.errors import UserInputError


def test_class_folder_layout_gives_sorted_wnid_labels(tiny_data):
    source = ImageFolderSource(tiny_data)
    assert source.classes == ("n90000000", "n90000001", "n90000002")
    train = source.split("train")
    assert len(train) == 36
    for path, label in zip(train.paths, train.labels):
        assert f"/{source.classes[label]}/" in path
    val = source.split("val")
    assert len(val) == 9 and sorted(set(val.labels)) == [0, 1, 2]


def flatten_val(root):
    """Rewrite val/<wnid>/x.JPEG as a flat val/ plus LOC_val_solution.csv, as Kaggle ships it."""
    rows = ["ImageId,PredictionString"]
    for path in sorted((root / "val").glob("*/*.JPEG")):
        wnid = path.parent.name
        rows.append(f"{path.stem},{wnid} 10 20 30 40 {wnid} 1 2 3 4")
        path.rename(root / "val" / path.name)
    for folder in (root / "val").iterdir():
        if folder.is_dir():
            folder.rmdir()
    (root / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def flat(tiny_data, tmp_path):
    root = tmp_path / "flat"
    shutil.copytree(tiny_data, root)
    flatten_val(root)
    return root


def test_flat_val_with_solution_csv_matches_folder_layout(tiny_data, flat):
    by_folder = ImageFolderSource(tiny_data).split("val")
    by_csv = ImageFolderSource(flat).split("val")
    name_label = lambda s: sorted((p.rsplit("/", 1)[1], l) for p, l in zip(s.paths, s.labels))  # noqa: E731
    assert name_label(by_csv) == name_label(by_folder)


def test_csv_naming_missing_files_is_an_error(flat):
    next((flat / "val").glob("*.JPEG")).unlink()
    with pytest.raises(UserInputError, match="names 1 file.*not in"):
        ImageFolderSource(flat).split("val")


def test_flat_val_without_csv_is_an_error(flat):
    (flat / "LOC_val_solution.csv").unlink()
    with pytest.raises(UserInputError, match="LOC_val_solution.csv"):
        ImageFolderSource(flat).split("val")


def test_missing_folder_and_split(tmp_path):
    with pytest.raises(UserInputError, match="does not exist.*harness data synth"):
        ImageFolderSource(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no train/ folder"):
        ImageFolderSource(tmp_path / "empty")


def test_missing_val_split(tiny_data, tmp_path):
    root = tmp_path / "noval"
    shutil.copytree(tiny_data / "train", root / "train")
    with pytest.raises(UserInputError, match="no val/ folder"):
        ImageFolderSource(root).split("val")


def test_empty_class_folder_is_named(tiny_data, tmp_path):
    root = tmp_path / "hole"
    shutil.copytree(tiny_data, root)
    (root / "train" / "n90000009").mkdir()
    with pytest.raises(UserInputError, match="n90000009 holds no images"):
        ImageFolderSource(root).split("train")
