"""The decode ceiling: how fast this machine can read, decode and resize these images at all.

One process per usable core, each pinned to its core before TensorFlow starts, decodes the same
sample of the split with the pipelines' own decoder: TensorFlow's (`decode_tf`, in tf.data) where it
is installed, else PIL's (`read_image`, as the pipelines that run without it decode); each worker
says which, and the ceiling records it. They wait, warmed up, for a signal and then run together, so the cores are measured busy at once, as a pipeline would use them;
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

from pipelines.data.decode import decode_tf, read_image
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
        ready = {worker.stdout.readline() for worker in self.workers}  # "ready <decoder>" from each
        if len(ready) != 1 or not (line := ready.pop()).startswith("ready "):
            self.close()
            raise RuntimeError("a decode-ceiling worker failed before it was ready")
        self.decoder = line.removeprefix("ready ").strip()

    def measure(self) -> dict:
        for worker in self.workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        rates = [json.loads(worker.stdout.readline())["images_per_s"] for worker in self.workers]
        return {
            "decoder": self.decoder,
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
        "sample_images": sample,
        "cores": cores,
        "before": before,
        "after": after,
        **best,
        "decoder": f"{best['decoder']}, one pinned process per core",
    }


def _serve_on_core(core: int) -> None:
    """Worker side: pin, warm up, say ready and with what; then one measurement per "go" line, until EOF."""
    os.sched_setaffinity(0, {core})
    request = json.loads(sys.stdin.readline())
    decoder, decode_sample = _decoder(request["paths"], request["size"])
    decode_sample()
    print(f"ready {decoder}", flush=True)
    for _ in sys.stdin:
        best = 0.0
        for _ in range(PASSES):
            started = time.perf_counter()
            images = decode_sample()
            best = max(best, images / (time.perf_counter() - started))
        print(json.dumps({"images_per_s": best}), flush=True)


def _decoder(paths: list[str], size: int):
    """(what decodes, a function that decodes the sample once and returns how many images it decoded)."""
    try:
        import tensorflow as tf
    except ImportError:
        return "PIL decode + antialiased bilinear resize", lambda: len([read_image(p, size) for p in paths])

    dataset = (
        tf.data.Dataset.from_tensor_slices([os.fsencode(p) for p in paths])  # names may not be UTF-8
        .map(lambda p: decode_tf(tf.io.read_file(p), size, p), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(16)
    )
    return "tf.io.decode_image + antialiased bilinear resize", lambda: sum(int(batch.shape[0]) for batch in dataset)


if __name__ == "__main__":
    _serve_on_core(int(sys.argv[1]))
