"""Every example of a split exactly once, in order: what evaluation reads."""

from __future__ import annotations

import numpy as np

from pipelines.backend import require_tensorflow, tensorflow_installed
from pipelines.data.decode_pool import decoded_batches
from pipelines.data.online.common import PipelineSpec, loader, shard_parser
from pipelines.data.shards import ShardSplit
from pipelines.data.source import Split


def evaluation_dataset(split: Split | ShardSplit, spec: PipelineSpec):
    """Every example of the split exactly once, in order, the last batch possibly short: for evaluation.

    Shards are read with tf.data (they are TFRecords). Image files too where TensorFlow is installed;
    elsewhere they are decoded with PIL in `spec.workers` processes into a generator of numpy batches.
    """
    if isinstance(split, ShardSplit):
        require_tensorflow("reading preprocessed shards")
        import tensorflow as tf

        records = tf.data.TFRecordDataset(list(split.files))
        return records.batch(spec.batch_size).map(shard_parser(split.image_size, spec.image_size)).prefetch(2)
    if not tensorflow_installed():
        n, size = len(split), spec.batch_size
        once = (np.arange(start, min(start + size, n)) for start in range(0, n, size))
        return decoded_batches(split.paths, split.labels, once, spec.image_size, size, spec.workers)
    import tensorflow as tf

    return (
        tf.data.Dataset.range(len(split))
        .map(loader(split, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(spec.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
