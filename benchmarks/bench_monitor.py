"""The monitor's cost: training throughput with the sampler on against off.

One compiled model trains in chunks of steps, with the sampler running during half of them in
ABBA order (off-on, on-off, ...), so that process start-up, tracing and any drift over the run
fall on both sides alike.
"""

from benchmarks.common import image_folder, scale

CHUNKS = 8  # per side
INTERVAL_S = 0.25  # the default of `harness run --sample-interval`


def alternating_throughputs(interval_s: float = INTERVAL_S, chunks: int = CHUNKS) -> tuple[list[float], list[float]]:
    """Images/s of each chunk without and with the sampler."""
    from harness.quiet import preload_keras, silence
    from harness.samplers import Sampler
    from harness.timing import StepClock, keras_step_callback
    from pipelines.data.source import ImageFolderSource
    from pipelines.train.placement import PlacementSpec, place
    from pipelines.train.trainer import TrainSetup
    from pipelines.train.workloads import get_workload

    silence(verbose=False)
    preload_keras()
    chosen = scale()
    setup = TrainSetup(source=ImageFolderSource(image_folder()), workload=get_workload(chosen.workload),
                       placement=place(PlacementSpec(device="cpu")), pipeline="synthetic")
    model = setup.model()
    dataset, _ = setup.train_dataset()

    def chunk() -> float:
        clock = StepClock()
        model.fit(dataset, epochs=1, steps_per_epoch=chosen.steps + 1, verbose=0, callbacks=[keras_step_callback(clock)])
        return clock.stats(1, setup.global_batch).images_per_s

    def sampled_chunk() -> float:
        with Sampler(interval_s):
            return chunk()

    chunk()  # traces the step
    off, on = [], []
    for i in range(chunks):  # off-on, on-off, ...: a drift over the run falls on both sides alike
        pair = (chunk, sampled_chunk) if i % 2 == 0 else (sampled_chunk, chunk)
        first, second = pair[0](), pair[1]()
        off.append(first if i % 2 == 0 else second)
        on.append(second if i % 2 == 0 else first)
    return off, on


class Monitor:
    timeout = 1200

    def track_throughput_cost_pct(self):
        """100 x (1 - images/s with the sampler / images/s without), summed over alternating chunks."""
        off, on = alternating_throughputs()
        return 100 * (1 - sum(on) / sum(off))

    track_throughput_cost_pct.unit = "%"

    def track_sampler_cpu_share_pct(self):
        """The sampler thread's own CPU time over the CPU time the machine offered while it ran."""
        from benchmarks.common import run

        return 100 * run("cpu-synthetic", sample_interval_s=INTERVAL_S)["monitor"]["cost"]["share_of_cpu"]

    track_sampler_cpu_share_pct.unit = "%"
