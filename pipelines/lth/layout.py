"""Where a lottery-ticket search keeps what: every name in a `harness lth --out` folder, in one place.

OUT/run.json        what fixes the dense run (a rerun with other values is refused)
OUT/checkpoints/    init, rewind-grid and final weights with their sidecars
OUT/dense.json      the dense network's accuracy
OUT/masks/          one .npz per mask and a .json with its per-layer sparsity
OUT/jobs/           one result per ticket job; a rerun skips the finished ones
OUT/tickets/        trained ticket weights that the next iterative round prunes
OUT/summary.json    dense accuracy, one row per ticket (and stability pair), their means over replicates
OUT/resume/NAME/    the resumable states of a training in flight (pipelines.train.resume): `dense`, or a
                    job's id (a stability pair's two copies in copy0/ and copy1/); removed once its
                    result is written
OUT/replicates/I/   replicate I (seed + I) with --replicates: its own run.json, checkpoints, dense.json and
                    masks; its jobs' results are in OUT/jobs with the suffix -repI
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUMMARY = "summary.json"
SETTINGS = "run.json"
JOBS = "jobs"
RESUME = "resume"
DENSE = "dense"  # the dense run's training, among the jobs' in OUT/resume


@dataclass(frozen=True)
class SearchFolder:
    root: Path

    @property
    def settings(self) -> Path:
        return self.root / SETTINGS

    @property
    def dense(self) -> Path:
        return self.root / "dense.json"

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def jobs(self) -> Path:
        return self.root / JOBS

    def mask(self, mask_id: str) -> Path:
        return self.root / "masks" / f"{mask_id}.npz"

    def mask_report(self, mask_id: str) -> Path:
        return self.mask(mask_id).with_suffix(".json")

    def replicate(self, index: int) -> Path:
        return self.root / "replicates" / str(index)

    def state(self, training: str) -> Path:
        """The resumable states of one training: "dense", or a job's id."""
        return self.root / RESUME / training

    def ticket(self, job_id: str) -> Path:
        """The trained weights of a ticket that the next iterative round prunes."""
        return self.root / "tickets" / job_id
