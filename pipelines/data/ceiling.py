"""The decode ceiling: how fast this machine can read, decode and resize these images at all.

One process per usable core, each pinned to its core before TensorFlow starts, decodes the same
sample of the split with the pipelines' own decoder (`decode_tf`); after a warm-up they start
together on a signal, so the cores are measured busy at once, as a pipeline would use them. Each
reports its best of three passes. The ceiling is the sum of the per-core rates: no online pipeline
in one process can beat it, so each pipeline's throughput is reported as a fraction of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from pipelines.data.source import Split

PASSES = 3


def decode_ceiling(split: Split, image_size: int, sample: int = 128) -> dict:
    cores = sorted(os.sched_getaffinity(0))
    request = json.dumps({"paths": list(split.paths[:sample]), "size": image_size}) + "\n"
    workers = [
        subprocess.Popen([sys.executable, "-m", "pipelines.data.ceiling", str(core)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for core in cores
    ]
    for worker in workers:
        worker.stdin.write(request)
        worker.stdin.flush()
    for worker in workers:
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError("a decode-ceiling worker failed before it was ready")
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.close()
    rates = [json.loads(worker.stdout.read())["images_per_s"] for worker in workers]
    for worker in workers:
        worker.wait()
    return {
        "decoder": "tf.io.decode_image + antialiased bilinear resize, one pinned process per core",
        "sample_images": min(sample, len(split)),
        "per_core_images_per_s": rates,
        "single_core_images_per_s": sum(rates) / len(rates),
        "cores": len(cores),
        "images_per_s": sum(rates),
    }


def _measure_on_core(core: int) -> None:
    """Child side: pin, warm up, say ready, wait for go, then time PASSES passes and print the best."""
    os.sched_setaffinity(0, {core})
    request = json.loads(sys.stdin.readline())
    import tensorflow as tf

    from pipelines.data.decode import decode_tf

    dataset = (
        tf.data.Dataset.from_tensor_slices(request["paths"])
        .map(lambda p: decode_tf(tf.io.read_file(p), request["size"]), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(16)
    )
    for _ in dataset.take(2):
        pass
    print("ready", flush=True)
    sys.stdin.readline()
    best = 0.0
    for _ in range(PASSES):
        started = time.perf_counter()
        images = sum(int(batch.shape[0]) for batch in dataset)
        best = max(best, images / (time.perf_counter() - started))
    print(json.dumps({"images_per_s": best}), flush=True)


if __name__ == "__main__":
    _measure_on_core(int(sys.argv[1]))
