"""The decode ceiling: how fast this machine can read, decode and resize these images at all.

One process per usable core, each pinned to its core before TensorFlow starts, decodes the same
sample of the split with the pipelines' own decoder (`decode_tf`). They wait, warmed up, for a
signal and then run together, so the cores are measured busy at once, as a pipeline would use them;
each reports its best of three passes, and the ceiling is the sum of the per-core rates. The probe
stays up between measurements, so a run can be bracketed by one before and one after at the cost of
a single start-up: on a shared machine the larger of the two is the better estimate of the ceiling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from pipelines.data.source import Split

PASSES = 3


class CeilingProbe:
    """Pinned decode workers, one per usable core; `measure()` returns the ceiling right now."""

    def __init__(self, split: Split, image_size: int, sample: int = 128):
        self.sample = min(sample, len(split))
        self.cores = sorted(os.sched_getaffinity(0))
        request = json.dumps({"paths": list(split.paths[:sample]), "size": image_size}) + "\n"
        self.workers = [
            subprocess.Popen([sys.executable, "-m", "pipelines.data.ceiling", str(core)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for core in self.cores
        ]
        for worker in self.workers:
            worker.stdin.write(request)
            worker.stdin.flush()
        for worker in self.workers:
            if worker.stdout.readline().strip() != "ready":
                self.close()
                raise RuntimeError("a decode-ceiling worker failed before it was ready")

    def measure(self) -> dict:
        for worker in self.workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        rates = [json.loads(worker.stdout.readline())["images_per_s"] for worker in self.workers]
        return {
            "per_core_images_per_s": rates,
            "single_core_images_per_s": sum(rates) / len(rates),
            "images_per_s": sum(rates),
        }

    def close(self) -> None:
        for worker in self.workers:
            if worker.stdin and not worker.stdin.closed:
                worker.stdin.close()  # EOF: the worker exits
        for worker in self.workers:
            worker.wait()

    def __enter__(self) -> "CeilingProbe":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bracketed_ceiling(before: dict, after: dict, sample: int, cores: int) -> dict:
    """The ceiling recorded with a run: both measurements, and the larger as the ceiling."""
    best = max(before, after, key=lambda m: m["images_per_s"])
    return {
        "decoder": "tf.io.decode_image + antialiased bilinear resize, one pinned process per core",
        "sample_images": sample,
        "cores": cores,
        "before": before,
        "after": after,
        **best,
    }


def _serve_on_core(core: int) -> None:
    """Worker side: pin, warm up, say ready; then one measurement per "go" line, until EOF."""
    os.sched_setaffinity(0, {core})
    request = json.loads(sys.stdin.readline())
    import tensorflow as tf

    from pipelines.data.decode import decode_tf

    dataset = (
        tf.data.Dataset.from_tensor_slices([os.fsencode(p) for p in request["paths"]])  # names may not be UTF-8
        .map(lambda p: decode_tf(tf.io.read_file(p), request["size"]), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(16)
    )
    for _ in dataset.take(2):
        pass
    print("ready", flush=True)
    for _ in sys.stdin:
        best = 0.0
        for _ in range(PASSES):
            started = time.perf_counter()
            images = sum(int(batch.shape[0]) for batch in dataset)
            best = max(best, images / (time.perf_counter() - started))
        print(json.dumps({"images_per_s": best}), flush=True)


if __name__ == "__main__":
    _serve_on_core(int(sys.argv[1]))
