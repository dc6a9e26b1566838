"""An ImageNet-layout folder as a source of (path, label) examples.

Layout: `ROOT/train/<wnid>/<name>.JPEG`, and for validation either `ROOT/val/<wnid>/<name>.JPEG` or a
flat `ROOT/val/<name>.JPEG` labelled by `LOC_val_solution.csv` (in ROOT or in val/), as Kaggle ships
ImageNet. Label ids are the positions of the wnids in sorted order, as in ImageNet's own tooling.
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


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class ImageFolderSource:
    """Lists the examples of an ImageNet-layout folder; the classes are the wnids under train/."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserInputError(
                f"data folder {self.root} does not exist: build one with `harness data synth {self.root}`"
            )
        train = self.root / "train"
        if not train.is_dir():
            raise UserInputError(f"{self.root} has no train/ folder: expected ROOT/train/<wnid>/*.JPEG")
        self.classes = tuple(sorted(p.name for p in train.iterdir() if p.is_dir()))
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
        if not folder.is_dir():
            raise UserInputError(f"{self.root} has no {name}/ folder")
        if name != "train" and _images_in(folder):
            pairs = self._flat_split(folder)
        else:
            pairs = self._class_folders(folder)
        pairs.sort()
        return Split(
            name=name,
            paths=tuple(str(p) for p, _ in pairs),
            labels=tuple(label for _, label in pairs),
            classes=self.classes,
        )

    def _class_folders(self, folder: Path) -> list[tuple[Path, int]]:
        pairs = []
        class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
        if not class_dirs:
            raise UserInputError(f"{folder} has no class folders and no images")
        for class_dir in class_dirs:
            if class_dir.name not in self.label_of:
                raise UserInputError(
                    f"{class_dir} names a class that train/ does not have: remove it or add the class to train/"
                )
            images = _images_in(class_dir)
            if not images:
                raise UserInputError(f"class folder {class_dir} holds no images (.JPEG, .jpg, .png)")
            pairs += [(p, self.label_of[class_dir.name]) for p in images]
        return pairs

    def _flat_split(self, folder: Path) -> list[tuple[Path, int]]:
        solution = next((p for p in (self.root / VAL_SOLUTION, folder / VAL_SOLUTION) if p.is_file()), None)
        if solution is None:
            raise UserInputError(
                f"{folder} holds images directly but no {VAL_SOLUTION} labels them: "
                f"put it in {self.root} or use {folder}/<wnid>/ folders"
            )
        by_stem = {p.stem: p for p in _images_in(folder)}
        pairs, missing = [], []
        with solution.open(newline="") as handle:
            for row_number, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    image_id, wnid = row["ImageId"], row["PredictionString"].split()[0]
                except (KeyError, IndexError, AttributeError):
                    raise UserInputError(
                        f"{solution}:{row_number}: expected columns ImageId,PredictionString with a wnid first"
                    ) from None
                if wnid not in self.label_of:
                    raise UserInputError(f"{solution}:{row_number}: class {wnid} is not a folder in train/")
                if image_id not in by_stem:
                    missing.append(image_id)
                    continue
                pairs.append((by_stem[image_id], self.label_of[wnid]))
        if missing:
            raise UserInputError(
                f"{solution} names {len(missing)} file(s) that are not in {folder}, e.g. {missing[0]}: "
                "restore them or remove their rows"
            )
        return pairs
