"""Extract an Imagenette-shaped tarball (`ROOT/train/<wnid>/*.JPEG`, `ROOT/val/...`) without trusting it.

A member with an absolute path, a `..` component, a link or a device is refused in one line naming it,
before anything of it is written; tarfile's `data` filter (PEP 706) then checks again what is written.
Only the regular files and folders under `ROOT/train/` and `ROOT/val/` are extracted.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from pipelines.errors import UserInputError

SPLITS = ("train", "val")


def _checked(archive: Path, member: tarfile.TarInfo) -> PurePosixPath:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise UserInputError(f"{archive}: member {member.name!r} points outside the archive's folder: refused")
    if not (member.isfile() or member.isdir()):
        raise UserInputError(f"{archive}: member {member.name!r} is a link or a special file: refused")
    return path


def extract(archive: Path, root: str, dest: Path, progress: Callable[[int], None] | None = None) -> int:
    """Extract `root/train` and `root/val` of `archive` into `dest/train` and `dest/val`; returns the files."""
    files = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = _checked(archive, member).parts
                if len(parts) < 2 or parts[0] != root or parts[1] not in SPLITS:
                    continue
                member.name = "/".join(parts[1:])  # ROOT/train/x -> train/x, under dest
                tar.extract(member, dest, filter="data")
                if member.isfile():
                    files += 1
                    if progress and files % 256 == 0:
                        progress(files)
    except tarfile.FilterError as error:
        raise UserInputError(f"{archive}: {error}: refused") from None
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise UserInputError(f"{archive} is not a complete tar archive ({error or type(error).__name__}): "
                             "fetch it again") from None
    if not all((dest / split).is_dir() for split in SPLITS):
        raise UserInputError(f"{archive} has no {root}/train/ and {root}/val/ folders: not the expected archive")
    return files
