import gzip
import re
import shutil
from pathlib import Path

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


def rewrite_solution(root, change) -> Path:
    """LOC_val_solution.csv with its lines (header first) passed through `change`."""
    path = root / "LOC_val_solution.csv"
    path.write_text("\n".join(change(path.read_text().splitlines())) + "\n")
    return path


def test_an_image_without_a_label_is_named(flat):
    path = rewrite_solution(flat, lambda lines: lines[:1] + lines[2:])
    unlabelled = sorted(p.stem for p in (flat / "val").glob("*.JPEG"))[0]
    with pytest.raises(UserInputError, match=f"holds 1 image\\(s\\) that {path} does not label, e.g. {unlabelled}: "
                                             "add their rows"):
        ImageFolderSource(flat).split("val")


def test_a_duplicated_row_is_named_with_both_lines(flat):
    image_id = sorted(p.stem for p in (flat / "val").glob("*.JPEG"))[2]
    path = rewrite_solution(flat, lambda lines: lines + [f"{image_id},n90000002 1 2 3 4"])
    with pytest.raises(UserInputError, match=f"{path}: image {image_id} is labelled on line 4 and again on line 11"):
        ImageFolderSource(flat).split("val")


def test_two_images_with_one_id_are_named(flat):
    first = next((flat / "val").glob("*.JPEG"))
    shutil.copy(first, first.with_suffix(".png"))
    with pytest.raises(UserInputError, match=f"have the same image id {first.stem}: keep one"):
        ImageFolderSource(flat).split("val")


@pytest.mark.parametrize("content, problem", [
    ("ImageId,PredictionString\nval_1,n90000000 1 2 3 4\n".encode("utf-16"), "is not UTF-8 text"),
    (bytes(range(256)) * 4, "is not UTF-8 text"),
    (gzip.compress(b"ImageId,PredictionString\nval_1,n90000000 1 2 3 4\n", mtime=0), "is not UTF-8 text"),
    (b"ImageId,PredictionString\n" + b"x" * 200_000, "is not a CSV text file (field larger than field limit"),
])
def test_a_solution_file_that_is_not_utf8_csv_is_one_line_naming_it(flat, content, problem):
    (flat / "LOC_val_solution.csv").write_bytes(content)
    with pytest.raises(UserInputError, match=re.escape(f"{flat / 'LOC_val_solution.csv'} {problem}")) as caught:
        ImageFolderSource(flat).split("val")
    assert "\n" not in str(caught.value)
