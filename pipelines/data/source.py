"""An ImageNet-layout folder as a source of (path, label) examples.

Layout: `ROOT/train/<wnid>/<name>.JPEG`, and for validation either `ROOT/val/<wnid>/<name>.JPEG` or a
flat `ROOT/val/<name>.JPEG` labelled by `LOC_val_solution.csv` (in ROOT or in val/), as Kaggle ships
ImageNet. Label ids are the positions of the wnids in sorted order, as in ImageNet's own tooling.
Paths are `str` as Python lists them: a name that is not UTF-8 keeps its bytes as surrogates
(`os.fsencode` gives them back), so such a file is read like any other.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import UserInputError

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
VAL_SOLUTION = "LOC_val_solution.csv"


@dataclass(frozen=True)
class Split:
    """The examples of one split, in a fixed order (sorted by path)."""

    name: str
    paths: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)


def some_of(names: list[str], shown: int = 3) -> str:
    """The first few of `names` for a one-line message: "a, b, c and 4 more"."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _unreadable(error: OSError) -> UserInputError:
    return UserInputError(f"cannot read {error.filename}: {error.strerror}: make it readable by this user")


def _checked(test, path: Path) -> bool:
    """`test(path)` (Path.is_dir, Path.is_file); a path that cannot be looked at is reported, not absent."""
    try:
        return test(path)
    except OSError as error:
        raise _unreadable(error) from None


def _listing(folder: Path) -> tuple[list[Path], list[Path]]:
    """The sub-folders and the image files of `folder`, sorted."""
    try:
        entries = sorted(folder.iterdir())
        return [p for p in entries if p.is_dir()], [p for p in entries if p.is_file()
                                                    and p.suffix.lower() in IMAGE_SUFFIXES]
    except OSError as error:
        raise _unreadable(error) from None


class ImageFolderSource:
    """Lists the examples of an ImageNet-layout folder; the classes are the wnids under train/."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        if not _checked(Path.is_dir, self.root):
            raise UserInputError(
                f"data folder {self.root} does not exist: build one with `harness data synth {self.root}`"
            )
        train = self.root / "train"
        if not _checked(Path.is_dir, train):
            raise UserInputError(f"{self.root} has no train/ folder: expected ROOT/train/<wnid>/*.JPEG")
        self.classes = tuple(p.name for p in _listing(train)[0])
        if not self.classes:
            raise UserInputError(f"{train} has no class folders: expected {train}/<wnid>/*.JPEG")
        self.label_of = {wnid: i for i, wnid in enumerate(self.classes)}
        self._splits: dict[str, Split] = {}

    def split(self, name: str) -> Split:
        """The split's examples; listed once per source (ImageNet's train/ is 1.28M files to walk)."""
        if name not in self._splits:
            self._splits[name] = self._list(name)
        return self._splits[name]

    def _list(self, name: str) -> Split:
        folder = self.root / name
        if not _checked(Path.is_dir, folder):
            raise UserInputError(f"{self.root} has no {name}/ folder")
        class_dirs, images = _listing(folder)
        if name != "train" and images:
            pairs = self._flat_split(folder, images)
        else:
            pairs = self._class_folders(folder, class_dirs)
        pairs.sort()
        return Split(
            name=name,
            paths=tuple(str(p) for p, _ in pairs),
            labels=tuple(label for _, label in pairs),
            classes=self.classes,
        )

    def _class_folders(self, folder: Path, class_dirs: list[Path]) -> list[tuple[Path, int]]:
        pairs = []
        if not class_dirs:
            raise UserInputError(f"{folder} has no class folders and no images")
        for class_dir in class_dirs:
            if class_dir.name not in self.label_of:
                raise UserInputError(
                    f"{class_dir} names a class that train/ does not have: remove it or add the class to train/"
                )
            images = _listing(class_dir)[1]
            if not images:
                raise UserInputError(f"class folder {class_dir} holds no images (.JPEG, .jpg, .png)")
            pairs += [(p, self.label_of[class_dir.name]) for p in images]
        return pairs

    def _flat_split(self, folder: Path, images: list[Path]) -> list[tuple[Path, int]]:
        """The images of a flat folder with their labels from the solution file: every image labelled
        once, every label with its image, or an error that names what does not match."""
        places = (self.root / VAL_SOLUTION, folder / VAL_SOLUTION)
        solution = next((p for p in places if _checked(Path.is_file, p)), None)
        if solution is None:
            raise UserInputError(
                f"{folder} holds images directly but no {VAL_SOLUTION} labels them: "
                f"put it in {self.root} or use {folder}/<wnid>/ folders"
            )
        by_id = _images_by_id(images)
        labels = self._solution_labels(solution)
        missing = sorted(set(labels) - set(by_id))
        if missing:
            raise UserInputError(f"{solution} names {len(missing)} file(s) that are not in {folder}, e.g. "
                                 f"{some_of(missing)}: restore them or remove their rows")
        unlabelled = sorted(set(by_id) - set(labels))
        if unlabelled:
            raise UserInputError(f"{folder} holds {len(unlabelled)} image(s) that {solution} does not label, e.g. "
                                 f"{some_of(unlabelled)}: add their rows or move them out of {folder}")
        return [(by_id[image_id], label) for image_id, label in labels.items()]

    def _solution_labels(self, solution: Path) -> dict[str, int]:
        """ImageId -> label, one row per image; a malformed, non-UTF-8 or binary file is one line naming it."""
        labels: dict[str, int] = {}
        first_line: dict[str, int] = {}
        try:
            with solution.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                for row in reader:
                    image_id, wnid = _solution_row(row, f"{solution}:{reader.line_num}")
                    if wnid not in self.label_of:
                        raise UserInputError(f"{solution}:{reader.line_num}: class {wnid} is not a folder in train/")
                    if image_id in labels:
                        raise UserInputError(f"{solution}: image {image_id} is labelled on line {first_line[image_id]} "
                                             f"and again on line {reader.line_num}: keep one row per image")
                    labels[image_id], first_line[image_id] = self.label_of[wnid], reader.line_num
        except UnicodeDecodeError as error:
            raise UserInputError(f"{solution} is not UTF-8 text (byte 0x{error.object[error.start]:02x}): "
                                 "give ImageNet's CSV, columns ImageId,PredictionString") from None
        except csv.Error as error:
            raise UserInputError(f"{solution} is not a CSV text file ({error}): "
                                 "give ImageNet's CSV, columns ImageId,PredictionString") from None
        except OSError as error:
            raise _unreadable(error) from None
        return labels


def _solution_row(row: dict, where: str) -> tuple[str, str]:
    try:
        return row["ImageId"], row["PredictionString"].split()[0]
    except (KeyError, IndexError, AttributeError):
        raise UserInputError(f"{where}: expected columns ImageId,PredictionString with a wnid first") from None


def _images_by_id(images: list[Path]) -> dict[str, Path]:
    """Image id (the name without its suffix) -> file; two files with one id cannot both be labelled."""
    by_id: dict[str, Path] = {}
    for path in images:
        if path.stem in by_id:
            raise UserInputError(f"{by_id[path.stem]} and {path} have the same image id {path.stem}: "
                                 "keep one of them")
        by_id[path.stem] = path
    return by_id
