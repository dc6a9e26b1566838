"""Training steps per device and pipeline, and the price of holding a pruning mask."""

from benchmarks.common import image_folder, require_gpus, run, shards


class TrainingStep:
    params = (["cpu", "gpu1", "gpu4"], ["synthetic", "parallel", "vectorized", "offline"])
    param_names = ["device", "pipeline"]
    timeout = 900

    def setup_cache(self):
        return {"images": str(image_folder()), "shards": str(shards())}

    def setup(self, paths, device, pipeline):
        require_gpus(device)

    def track_step_p50_s(self, paths, device, pipeline):
        data = paths["shards"] if pipeline == "offline" else paths["images"]
        return run(f"{device}-{pipeline}", data)["timing"]["step_p50_s"]

    track_step_p50_s.unit = "seconds"


class MaskedStep:
    """Masked over dense step time on the same synthetic batches: 1.00 means holding the mask is free."""

    params = ["masked", "constraint"]
    param_names = ["masking"]
    timeout = 900

    def track_masked_over_dense(self, masking):
        dense = run("cpu-synthetic-zeroed")["timing"]["step_p50_s"]
        masked = run(f"cpu-synthetic-{masking}")["timing"]["step_p50_s"]
        return masked / dense

    track_masked_over_dense.unit = "ratio"
