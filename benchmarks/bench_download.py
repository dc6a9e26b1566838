"""How fast `harness data download` fetches: URLs per second from a loopback image host.

The host is the HTTP tests' loopback server (benchmarks/loopback.py): HTTP/1.1 on 127.0.0.1,
keeping connections alive, sending Content-Length, Nagle's algorithm off, as real image hosts do. It
serves one ~110 KB JPEG (ImageNet's average file) that decodes, so the stage's decode check does its
real work. The list holds 2,000 entries (200 at LTH_BENCH_SCALE=quick); the local engine runs it at
the default settings (one process per usable core, 8 connections each), its start-up included.
At `rtt_ms` 0 the figure leaves out the Internet (latency, slow hosts) and measures the client's own
cost per URL (connections, requests, the decode check, the atomic write) and the host's, on
the same cores; `cpu_ms_per_url`, the CPU time both spent per URL, is the figure that does not
move with the machine's other load.

`rtt_ms` 50 puts the host 50 ms away, as most image hosts are: the server waits a round trip
before a new connection's first answer (the TCP handshake) and one before each answer (the request).
There a client that keeps connections alive saves a round trip per URL, which loopback cannot show.

Run directly: `.venv/bin/python -m benchmarks.bench_download [RTT_MS]` prints the figures as JSON.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import scale

IMAGE_BYTES = 110_000  # ImageNet's average JPEG (about 140 GB over 1.28 M files)
URLS = {"full": 2000, "quick": 200}
RTTS_MS = (0, 50)  # loopback as it is; a host 50 ms away (emulated by the server: see benchmarks/loopback.py)


def image(target: int = IMAGE_BYTES) -> bytes:
    """A synthetic JPEG that decodes, at the first width whose encoding reaches `target` bytes."""
    import numpy as np

    from pipelines.data.synth import IMAGENET_MEAN_SIZE, encode, render_image

    picture = render_image(0, np.random.default_rng(0))
    width, height = IMAGENET_MEAN_SIZE
    for scaled in range(width, 4 * width, 10):
        data = encode(picture.resize((scaled, scaled * height // width)), None)
        if len(data) >= target:
            return data
    raise RuntimeError(f"no size of the synthetic image reaches {target} bytes")


def measure(work: Path, urls: int | None = None, rtt_ms: float = 0) -> dict:
    """Download `urls` entries into a fresh folder under `work` once, from a host `rtt_ms` away; the
    figures of that run."""
    from pipelines.data.download import DownloadSettings, download
    from pipelines.engines import EngineSettings
    from benchmarks.loopback import serving

    urls = urls or URLS[scale().name]
    body = image()
    with serving() as server:
        server.fallback = lambda handler, hit: handler.send(200, body, "image/jpeg")
        server.rtt = rtt_ms / 1000
        url_list, out = work / f"urls-{rtt_ms}.txt", work / f"out-{rtt_ms}"
        url_list.write_text("".join(f"n0{i % 10}_{i}\t{server.url(f'/img/{i}.jpg')}\n" for i in range(urls)))
        cpu, started = _cpu_seconds(), time.perf_counter()
        manifest = download(url_list, out, DownloadSettings(), EngineSettings(engine="local"))
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        requests, connections = len(server.requests), server.connections
    if manifest["counts"]["downloaded"] != urls:
        raise RuntimeError(f"the benchmark's download failed: {manifest['counts']}, e.g. {manifest['failed'][:3]}")
    return {"urls_per_second": urls / seconds, "cpu_ms_per_url": 1000 * cpu / urls, "seconds": seconds, "urls": urls,
            "image_bytes": len(body), "requests": requests, "connections": connections}


def _cpu_seconds() -> float:
    """CPU time of this process (the host's threads) and of its finished children (the engine's
    workers): unlike the wall time, it does not depend on what else the machine runs."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Download:
    params = list(RTTS_MS)
    param_names = ["rtt_ms"]
    timeout = 300

    def setup_cache(self):
        work = Path(tempfile.mkdtemp(prefix="bench-download-"))
        try:
            return {rtt_ms: measure(work, rtt_ms=rtt_ms) for rtt_ms in RTTS_MS}
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def track_urls_per_second(self, figures, rtt_ms):
        return figures[rtt_ms]["urls_per_second"]

    track_urls_per_second.unit = "URLs/s"

    def track_cpu_ms_per_url(self, figures, rtt_ms):
        return figures[rtt_ms]["cpu_ms_per_url"]

    track_cpu_ms_per_url.unit = "ms"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="bench-download-") as folder:
        print(json.dumps(measure(Path(folder), rtt_ms=float(sys.argv[1]) if len(sys.argv) > 1 else 0)))
