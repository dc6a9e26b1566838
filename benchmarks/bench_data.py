"""The online pipelines alone (no model), and the decode ceiling they are judged against."""

from benchmarks.common import image_folder, run, scale, shards
from pipelines.data.online import MEMORY, PIPELINES, SHARDS


class DataPipelines:
    params = [p.name for p in PIPELINES.entries() if p.value.reads != MEMORY]
    param_names = ["pipeline"]
    timeout = 600

    def setup_cache(self):
        return {"images": str(image_folder()), "shards": str(shards())}

    def track_images_per_s(self, paths, pipeline):
        data = paths["shards"] if PIPELINES[pipeline].reads == SHARDS else paths["images"]
        return run(f"data-{pipeline}", data)["timing"]["images_per_s"]

    track_images_per_s.unit = "images/s"


class DecodeCeiling:
    """JPEG decode + resize by one pinned process per core: what no online pipeline can beat."""

    timeout = 300

    def track_images_per_s(self):
        from pipelines.data.ceiling import CeilingProbe
        from pipelines.data.source import ImageFolderSource
        from pipelines.train.workloads import get_workload

        split = ImageFolderSource(image_folder()).split("train")
        with CeilingProbe(split, get_workload(scale().workload).image_size) as probe:
            return probe.measure()["images_per_s"]

    track_images_per_s.unit = "images/s"
