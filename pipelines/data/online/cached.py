"""Decode once in path order into a cache (memory, or a file under cache_dir), then shuffle and batch."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import psutil

from pipelines.data.online.common import PipelineSpec, loader, shuffle_repeat_batch
from pipelines.data.source import Split
from pipelines.errors import UserInputError


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


def build_cached(split: Split, spec: PipelineSpec):
    """Decode once in path order into a cache (memory, or a file under cache_dir), then shuffle and batch.

    The first epoch fills the cache; later epochs read decoded images from it.
    """
    import tensorflow as tf

    if spec.cache_dir:
        Path(spec.cache_dir).mkdir(parents=True, exist_ok=True)
        target = str(cache_file(split, spec))
    else:
        check_memory_cache_fits(len(split), spec.image_size)
        target = ""
    dataset = (
        tf.data.Dataset.range(len(split))
        .map(loader(split, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .cache(target)
    )
    return shuffle_repeat_batch(dataset, len(split), spec).prefetch(tf.data.AUTOTUNE)
