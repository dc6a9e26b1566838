import json
from importlib import metadata
from pathlib import Path

import pytest

from harness.results import SCHEMA, read_results, save_record
from harness.runner import RunSettings, run_variant
from harness.sweep_bench import lth_command
from harness.timing import IMAGENET_TRAIN_IMAGES
from harness.variants import get_variant
from pipelines.data.source import ImageFolderSource
from pipelines.errors import UserInputError
from pipelines.train.workloads import get_workload


@pytest.fixture(scope="module")
def record(tiny_data):
    settings = RunSettings(source=ImageFolderSource(tiny_data), workload=get_workload("lenet-smoke"), steps=3, warmup=1)
    return run_variant(get_variant("cpu-parallel"), settings)


def test_record_fields(record, tiny_data):
    assert record["schema"] == SCHEMA
    assert record["variant"] == "cpu-parallel" and record["pipeline"] == "parallel"
    assert record["workload"]["name"] == "lenet-smoke" and record["workload"]["batch_size"] == 8
    assert record["workload"]["model"] == "lenet_300_100"
    assert record["data"]["train_images"] == 36 and record["data"]["classes"] == 3
    timing = record["timing"]
    assert timing["steps"] == 3 and len(timing["step_times_s"]) == 3
    assert timing["images"] == 3 * 8
    assert timing["images_per_s"] == pytest.approx(timing["images"] / sum(timing["step_times_s"]))
    assert timing["step_p50_s"] <= timing["step_p90_s"]
    assert timing["imagenet_epoch_s"] == pytest.approx(IMAGENET_TRAIN_IMAGES / timing["images_per_s"])
    machine = record["machine"]
    assert machine["logical_cores"] >= 1 and machine["cpu_model"]
    assert machine["gpus"] == [] or all("name" in g for g in machine["gpus"])
    assert machine["libraries"]["tensorflow"].startswith("2.19")
    assert machine["libraries"]["jax"] == machine["libraries"]["jaxlib"] == metadata.version("jax")
    assert len(machine["git"]) == 2
    assert record["backend"] == record["placement"]["backend"] == "tensorflow"  # the default backend trained


def test_training_record_carries_the_monitor_and_the_verdict(record):
    monitor = record["monitor"]
    assert monitor["gpu"]["available"] is False and "NVML" in monitor["gpu"]["reason"]  # no GPU here
    assert len(monitor["t_s"]) == len(monitor["cpu"]["per_core_pct"]) >= 1
    start, end = monitor["timed_window_s"]
    assert 0 < start < end <= monitor["wall_s"]
    verdict = record["verdict"]
    assert verdict["bound"] in {"input", "shared-cores", "model"}
    assert verdict["model_ceiling_images_per_s"] > 0 and verdict["pipeline_supply_images_per_s"] > 0
    assert verdict["run_images_per_s"] == record["timing"]["images_per_s"] and verdict["steps"] == 3
    assert verdict["advice"].startswith({"input": "input-bound", "shared-cores": "shared cores",
                                         "model": "model-bound"}[verdict["bound"]])
    assert "profile" not in record


def test_records_round_trip_atomically(record, tmp_path):
    path = save_record(tmp_path, record)
    (tmp_path / "notes.json").write_text(json.dumps({"not": "a record"}))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert read_results(tmp_path).records == [json.loads(path.read_text())]


def test_corrupt_record_is_named(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UserInputError, match="broken.json"):  # nothing else readable: the collection is refused
        read_results(tmp_path)


def test_too_few_images_for_a_batch(tiny_data):
    settings = RunSettings(source=ImageFolderSource(tiny_data), workload=get_workload("imagenet"), steps=1, warmup=0)
    with pytest.raises(UserInputError, match="fewer than one batch of 96"):
        run_variant(get_variant("cpu-naive"), settings)


def test_data_run_measures_the_pipeline_against_the_decode_ceiling(tiny_data):
    settings = RunSettings(source=ImageFolderSource(tiny_data), workload=get_workload("smoke"), steps=2, warmup=1,
                           sample_interval_s=0)
    record = run_variant(get_variant("data-cached"), settings)
    assert record["mode"] == "data" and record["pipeline"] == "cached"
    assert record["backend"] is None  # no model, no Keras backend
    assert record["monitor"] is None  # --sample-interval 0: no monitor
    assert record["warmup_steps"] == 1 + 3  # plus one epoch (36 images, batch 16) to fill the cache
    ceiling = record["decode_ceiling"]
    assert len(ceiling["per_core_images_per_s"]) == ceiling["cores"] == record["machine"]["usable_cores"]
    assert ceiling["images_per_s"] == pytest.approx(sum(ceiling["per_core_images_per_s"]))
    assert all(rate > 0 for rate in ceiling["per_core_images_per_s"])
    assert ceiling["images_per_s"] == max(ceiling["before"]["images_per_s"], ceiling["after"]["images_per_s"])
    assert record["fraction_of_ceiling"] == pytest.approx(record["timing"]["images_per_s"] / ceiling["images_per_s"])


def test_variants_that_train_take_every_backend_and_masked_steps_are_priced_on_every_device():
    from pipelines.backend import BACKENDS
    from pipelines.train.masking import MASKINGS
    from pipelines.train.placement import DEVICES

    assert get_variant("gpu1-naive").backends == get_variant("sweep-serial").backends == BACKENDS.names()
    assert get_variant("data-naive").backends == get_variant("preprocess-local").backends == ()
    for device in DEVICES:
        for masking in MASKINGS.entries():
            variant = get_variant(f"{device}-synthetic-{masking.value.variant}")
            assert (variant.device, variant.pipeline, variant.masking) == (device, "synthetic", masking.name)
    command = lth_command("mpi", 3, Path("data"), "smoke", 0, "jax", Path("out"))
    assert command[command.index("--backend") + 1] == "jax"  # the sweep's tickets train on the run's backend
