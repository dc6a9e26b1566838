"""Read preprocessed shards: interleaved in parallel, shuffled by shard and by buffer, parsed per batch."""

from __future__ import annotations

from pipelines.data.online.common import SHUFFLE_BUFFER, PipelineSpec, shard_parser
from pipelines.data.shards import ShardSplit


def build_offline(split: ShardSplit, spec: PipelineSpec):
    """Read preprocessed shards: interleaved in parallel, shuffled by shard and by buffer, parsed per batch.

    Images are stored decoded, so no JPEG work remains; a resize happens only when the workload's
    size differs from the shards'.
    """
    import tensorflow as tf

    files = tf.data.Dataset.from_tensor_slices(list(split.files))
    if spec.shuffle:
        files = files.shuffle(len(split.files), seed=spec.seed, reshuffle_each_iteration=True)
    records = files.repeat().interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(split.files), 8),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )
    if spec.shuffle:
        records = records.shuffle(min(len(split), SHUFFLE_BUFFER), seed=spec.seed)
    return (
        records.skip(spec.start)  # serialized records: skipped unparsed
        .batch(spec.batch_size, drop_remainder=True)
        .map(shard_parser(split.image_size, spec.image_size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
