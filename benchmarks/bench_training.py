"""Training steps per device and pipeline, and the price of holding a pruning mask."""

from benchmarks.common import image_folder, require_gpus, run, shards
from pipelines.data.online import PIPELINES, SHARDS
from pipelines.train.masking import MASKINGS
from pipelines.train.placement import DEVICES

UNHELD = "none"  # the masking method that only zeroes: the baseline the others are priced against


class TrainingStep:
    params = (list(DEVICES.names()), list(PIPELINES.names()))
    param_names = ["device", "pipeline"]
    timeout = 900

    def setup_cache(self):
        return {"images": str(image_folder()), "shards": str(shards())}

    def setup(self, paths, device, pipeline):
        require_gpus(device)

    def track_step_p50_s(self, paths, device, pipeline):
        data = paths["shards"] if PIPELINES[pipeline].reads == SHARDS else paths["images"]
        return run(f"{device}-{pipeline}", data)["timing"]["step_p50_s"]

    track_step_p50_s.unit = "seconds"


class MaskedStep:
    """Masked over dense step time on the same synthetic batches: 1.00 means holding the mask is free."""

    params = [m.value.variant for m in MASKINGS.entries() if m.name != UNHELD]
    param_names = ["masking"]
    timeout = 900

    def track_masked_over_dense(self, masking):
        dense = run(f"cpu-synthetic-{MASKINGS[UNHELD].variant}")["timing"]["step_p50_s"]
        masked = run(f"cpu-synthetic-{masking}")["timing"]["step_p50_s"]
        return masked / dense

    track_masked_over_dense.unit = "ratio"
