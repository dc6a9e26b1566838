"""Offline TFRecord shards (written by `preprocess`) as a source: the manifest says what is there."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipelines.data.preprocess import FORMAT, MANIFEST
from pipelines.data.source import ImageFolderSource
from pipelines.errors import UserInputError


@dataclass(frozen=True)
class ShardSplit:
    name: str
    files: tuple[str, ...]
    examples: int
    image_size: int
    classes: tuple[str, ...]
    source_root: str  # the image folder the shards were made from, for the decode ceiling

    def __len__(self) -> int:
        return self.examples


class ShardSource:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        manifest_path = self.root / MANIFEST
        if not manifest_path.is_file():
            raise UserInputError(
                f"{self.root} has no {MANIFEST}: it is not a finished `harness data preprocess` output"
            )
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("format") != FORMAT:
            raise UserInputError(f"{manifest_path} is not a shard manifest of format {FORMAT}")
        self.classes = tuple(self.manifest["classes"])

    def split(self, name: str) -> ShardSplit:
        if name not in self.manifest["splits"]:
            raise UserInputError(f"{self.root} has no {name} shards")
        entry = self.manifest["splits"][name]
        return ShardSplit(
            name=name,
            files=tuple(str(self.root / f) for f in entry["files"]),
            examples=entry["examples"],
            image_size=self.manifest["image_size"],
            classes=self.classes,
            source_root=self.manifest["job"]["source"],
        )


def open_source(root: Path | str) -> ShardSource | ImageFolderSource:
    """The shards in `root` if it holds a shard manifest, else `root` as an ImageNet-layout folder."""
    manifest = Path(root) / MANIFEST
    try:
        if json.loads(manifest.read_text()).get("format") == FORMAT:
            return ShardSource(root)
    except (OSError, ValueError, AttributeError):
        pass
    return ImageFolderSource(root)
