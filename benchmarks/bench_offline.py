"""Offline jobs and sweeps: preprocessing per engine, and the ticket grid's makespan per executor."""

from benchmarks.common import image_folder, run
from harness.variants import catalogue
from pipelines.engines import ENGINES


class Preprocess:
    params = list(ENGINES.names())
    param_names = ["engine"]
    timeout = 900

    def track_images_per_s(self, engine):
        return run(f"preprocess-{engine}")["timing"]["images_per_s"]

    track_images_per_s.unit = "images/s"


class Sweep:
    """The 4-job grid of harness.sweep_bench on 2 workers (serial: 1), start-up included."""

    params = [v.name.removeprefix("sweep-") for v in catalogue().values() if v.mode == "sweep"]
    param_names = ["executor"]
    timeout = 1800

    def setup_cache(self):
        return str(image_folder())

    def track_makespan_s(self, images, executor):
        return run(f"sweep-{executor}", images, workers=2)["sweep"]["makespan_s"]

    track_makespan_s.unit = "seconds"
