"""Every example of a split exactly once, in order: what evaluation reads."""

from __future__ import annotations

from pipelines.data.online.common import PipelineSpec, loader, shard_parser
from pipelines.data.shards import ShardSplit
from pipelines.data.source import Split


def evaluation_dataset(split: Split | ShardSplit, spec: PipelineSpec):
    """Every example of the split exactly once, in order, the last batch possibly short: for evaluation."""
    import tensorflow as tf

    if isinstance(split, ShardSplit):
        records = tf.data.TFRecordDataset(list(split.files))
        return records.batch(spec.batch_size).map(shard_parser(split.image_size, spec.image_size)).prefetch(2)
    return (
        tf.data.Dataset.range(len(split))
        .map(loader(split, spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(spec.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
