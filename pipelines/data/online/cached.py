"""Decode once in path order into a cache (memory, or a file under cache_dir), then shuffle and batch.

A file cache has one writer at a time: the process that builds the pipeline holds the cache folder's
lock (pipelines.folder_lock) for the rest of its life, so a second run on the same `--cache-dir` is
refused in one line naming the first, instead of failing deep inside tf.data or reading a cache
another process is writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

import psutil

from pipelines.data.online.common import PipelineSpec, loader, shuffle_repeat_batch
from pipelines.data.source import Split
from pipelines.errors import UserInputError
from pipelines.folder_lock import holding

# Never closed: the kernel lets the locks go when the process ends, however it ends.
_LOCKS = contextlib.ExitStack()
_SWEPT: dict[Path, set[str]] = {}  # each cache folder this process holds -> the caches it has swept there


def cache_file(split: Split, spec: PipelineSpec) -> Path:
    """A cache name that changes with the files and the image size, so a stale cache is never read."""
    digest = hashlib.sha1(b"\n".join(map(os.fsencode, [str(spec.image_size), *split.paths]))).hexdigest()[:16]
    return Path(spec.cache_dir) / f"{split.name}-{spec.image_size}px-{digest}"


def check_memory_cache_fits(examples: int, image_size: int) -> None:
    needed = examples * image_size * image_size * 3
    free = psutil.virtual_memory().available
    if needed > free:
        raise UserInputError(
            f"an in-memory cache of {examples:,} images at {image_size}x{image_size} needs "
            f"{needed / 2**30:.1f} GiB but {free / 2**30:.1f} GiB is free: pass --cache-dir DIR to cache in a file"
        )


def _claim_cache(prefix: Path) -> None:
    """Make this process the one writer of `prefix`'s folder for the rest of its life, and, the first
    time it builds on `prefix`, remove what a killed writer left of that cache.

    The process's life, because the dataset goes to Keras and to the harness's drains, whose iterators
    (where tf.data's cache writer lives) end at no point this module sees, and one run builds the same
    pipeline more than once (the verdict drains it again). The first time only, because from then on
    an iterator of this process may be writing the cache."""
    folder = prefix.parent.resolve()
    if folder not in _SWEPT:
        _LOCKS.enter_context(holding(folder, "--cache-dir"))
        _SWEPT[folder] = set()
    if prefix.name not in _SWEPT[folder]:
        _remove_stale(folder / prefix.name)
        _SWEPT[folder].add(prefix.name)


def _remove_stale(prefix: Path) -> None:
    """tf.data writes a file cache as `<prefix>_<n>.lockfile` and the bundle `<prefix>_<n>.index` and
    `.data-*` (each first under a `.tempstate<random>` name), and merges them into `<prefix>.index` and
    `<prefix>.data-*` when a pass completes. Under this process's lock no live process writes them, so
    such files are a killed writer's; its lockfile would make tf.data refuse the cache ("a concurrent
    caching iterator running"). Only these names are removed, never a complete cache."""
    stale = re.compile(re.escape(prefix.name) + r"(_\d+\..+|\..+\.tempstate\d+)")
    for path in prefix.parent.iterdir():
        if stale.fullmatch(path.name):
            path.unlink(missing_ok=True)


def build_cached(split: Split, spec: PipelineSpec):
    """Decode once in path order into a cache (memory, or a file under cache_dir), then shuffle and batch.

    The first epoch fills the cache; later epochs read decoded images from it.
    """
    import tensorflow as tf

    if spec.cache_dir:
        prefix = cache_file(split, spec)
        _claim_cache(prefix)
        target = str(prefix)
    else:
        check_memory_cache_fits(len(split), spec.image_size)
        target = ""
    dataset = (
        tf.data.Dataset.range(len(split))
        .map(loader(split, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .cache(target)
    )
    return shuffle_repeat_batch(dataset, len(split), spec).prefetch(tf.data.AUTOTUNE)
