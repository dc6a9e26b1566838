"""The `multiprocessing` executor: a pool of worker processes on one node, handed jobs one at a time
as they free up.

Worker i is spawned with its slot of the node, bound before TensorFlow loads (`share.bind_slot`):
on a GPU node it sees only GPU i mod G; on CPUs it gets cores // workers threads, so that N workers
do not fight over the same cores. The workers are supervised (supervisor.py): they write results
themselves, so killing the parent loses only the jobs in flight, and they end with the parent
(pipelines.lifeline), so none goes on training where a rerun trains the same job; a worker that
dies (out of memory, a crash) costs only its job, stored as failed, and the slot's next job starts
a fresh worker bound to the same slot.
"""

from __future__ import annotations

import functools

from pipelines.executors.share import bind_slot
from pipelines.executors.supervisor import Supervisor


def run(job_fn, jobs, store, report=None, workers: int = 2, team=None) -> None:
    bindings = [functools.partial(bind_slot, index, workers) for index in range(workers)]
    with Supervisor(job_fn, store, bindings) as supervisor:
        supervisor.run(jobs, report)
