"""Offline TFRecord shards (written by `preprocess`) as a source: the manifest says what is there.

What is checked when:
- on open (`ShardSource`, `open_source`): the manifest (JSON, fields, format, counts, its own digest)
  and every shard's existence and byte size: one `stat` per shard, cheap at ImageNet's ~1,300 shards;
  a truncated or missing shard is named before any reading starts;
- while reading: TFRecord's own CRCs catch damaged bytes (a flipped bit keeps the size); wrapped in
  `naming_bad_input`, a reader that meets them gets the damaged files named, found by checksums
  read only then. The same wrapper turns an image file that TensorFlow or PIL cannot decode into
  one line; it never imports TensorFlow itself (the pipelines that need none run without it).
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelines.data import manifest as shard_manifest
from pipelines.data.decode import UnreadableImage
from pipelines.data.source import ImageFolderSource, some_of
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
        self.manifest = shard_manifest.load(self.root)
        shard_manifest.check_sizes(self.root, self.manifest)
        self.classes = tuple(self.manifest["classes"])

    def split(self, name: str) -> ShardSplit:
        if name not in self.manifest["splits"]:
            raise UserInputError(f"{self.root} has no {name} shards")
        entry = self.manifest["splits"][name]
        return ShardSplit(
            name=name,
            files=tuple(str(self.root / shard["name"]) for shard in entry["files"]),
            examples=entry["examples"],
            image_size=self.manifest["image_size"],
            classes=self.classes,
            source_root=self.manifest["job"]["source"],
        )


def open_source(root: Path | str) -> ShardSource | ImageFolderSource:
    """The shards in `root` if it holds a manifest.json (checked, see above), else an ImageNet-layout folder."""
    if os.path.lexists(Path(root) / shard_manifest.MANIFEST):  # False, not an error, where root cannot be read
        return ShardSource(root)
    return ImageFolderSource(root)


@contextmanager
def naming_bad_input(source: ShardSource | ImageFolderSource, *splits: str):
    """Wrap code that reads `splits` of `source`, so that a read error escaping TensorFlow (TFRecord's
    `DataLossError`, a record or image that does not parse, a file gone) or a PIL pipeline
    (`UnreadableImage`) becomes a UserInputError.

    Shards: when checksums show damaged shards, they are named. Image folders: the error is said in
    one line with the fix, `harness data preprocess`, which lists and skips every file it cannot
    decode (finding the one file here would mean decoding the whole split). Costs nothing until an
    error escapes; anything else passes through unchanged.
    """
    try:
        yield
    except Exception as error:
        if not _is_read_error(error):
            raise
        if isinstance(source, ImageFolderSource):
            problem = _gist(str(getattr(error, "message", error)))
            raise UserInputError(f"a file of {', '.join(str(source.root / s) for s in splits)} cannot be read or "
                                 f"decoded ({problem}): run `harness data preprocess {source.root} OUT`, which "
                                 "lists and skips such files, and train on OUT") from None
        damaged = shard_manifest.damaged(source.root, source.manifest, splits)
        if not damaged:
            raise
        raise UserInputError(f"{len(damaged)} damaged shard(s): {some_of(damaged)}: re-run `harness data preprocess "
                             f"{source.manifest['job']['source']} OUT` into a fresh folder") from None


# What TensorFlow wraps a pipeline's error in: "{{function_node ...}}", "Error in user-defined function
# `f` ... with iterator: Iterator::Root::...:", "assertion failed: [...]", "[[{{node ...}}]]", "[Op:...]".
_TF_WRAPPING = re.compile(r"\{\{function_node [^}]*\}\}|Error in user-defined function .*? with iterator: \S+:"
                          r"|assertion failed: |\[\[\{\{node [^}]*\}\}\]\]|\[Op:[^\]]*\]")


def _gist(message: str) -> str:
    """An error's message as one line of at most 300 characters, without TensorFlow's wrapping, so that
    the file and the reason survive the cut."""
    return " ".join(_TF_WRAPPING.sub(" ", message).split()).strip(" []")[:300]


def _is_read_error(error: Exception) -> bool:
    if isinstance(error, UnreadableImage):
        return True
    tf = sys.modules.get("tensorflow")  # TensorFlow's errors come only from a TensorFlow already loaded
    return tf is not None and isinstance(error, (tf.errors.DataLossError, tf.errors.InvalidArgumentError,
                                                 tf.errors.NotFoundError))
