"""The `mpi` executor: the same command runs on every rank (`mpiexec -n N`, or `srun`).

Rank 0 leads (`Team.leader_does`): the caller's shared steps (for a lottery-ticket search: the dense
run, the masks, the summary) run there while the other ranks wait; a failure on the leader is
broadcast so that every rank stops with it. Jobs are then
handed out dynamically by a scheduler thread on rank 0: a rank that is free asks for the next job
index, so a slow job never idles the others, and rank 0 trains jobs too (it takes its own from the
same counter), so no rank sits as a pure scheduler. Every rank writes its jobs' results itself.

A rank that dies takes the whole MPI job down (MPICH's default), so no rank runs a job in its own
process: each hands its jobs one at a time to one long-lived child worker (supervisor.py) spawned
after the rank bound its slot, whose environment the child inherits. A child that dies (out of
memory, a crash) costs only its job, stored as failed; the rank starts a fresh child for its next.

Waiting never spins: MPICH polls at full speed inside blocking calls, and its passive one-sided
operations progress only when the target enters MPI, so every wait here is a non-blocking request
tested every few milliseconds, leaving the cores to the ranks that are training. Each rank binds
its slot of the node (`share.bind_slot`): with GPUs, node-local rank i sees GPU i mod G; on CPUs, it
gets cores // ranks-on-node threads.
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

from pipelines.executors.job import WorkerSlot
from pipelines.executors.share import bind_slot
from pipelines.executors.supervisor import Supervisor

RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
POLL_SECONDS = 0.005
ASK, ANSWER = 1, 2  # message tags: a free rank asks for a job, rank 0 answers with its index
ARRIVED, GO = 3, 4  # the barrier's: a rank tells rank 0 it is there, rank 0 lets every rank go on


def launched_by_mpi() -> bool:
    return any(name in os.environ for name in RANK_VARIABLES)


def relaunch(workers: int, command: list[str]) -> NoReturn:
    """Become `command` (the caller's own command line) under the venv's `mpiexec -n workers`: never returns.

    The process is replaced (exec), not given a child: mpiexec takes over its pid, stdio and exit
    status, so a kill of the command (even SIGKILL) reaches mpiexec itself, whose proxy then ends
    the ranks, and no outer process is left waiting that could die alone and orphan them.
    """
    mpiexec = Path(sys.executable).with_name("mpiexec")
    command = [str(mpiexec), "-n", str(workers), *command]
    sys.stdout.flush()  # exec drops whatever Python still buffers
    sys.stderr.flush()
    # as subprocess does for a child: exec keeps ignored signals ignored, and Python ignores these two
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    os.execv(command[0], command)


class Team:
    """The ranks of MPI_COMM_WORLD, bound to their share of the node. Build it before TensorFlow loads."""

    def __init__(self):
        self.node_environment = dict(os.environ)  # as it was before this rank took its GPU: for the dense run
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self.slot = bind_slot(self.local_rank, self.local_size)

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Every rank waits here until all are here. Point to point through rank 0 rather than
        MPI_Ibarrier: a rank stopped while it waits cancels its receive (`_receive`), where a
        collective could be neither cancelled nor completed and would be pending at MPI_Finalize."""
        if self.leader:
            for _ in range(self.size - 1):
                self._receive(self.MPI.ANY_SOURCE, ARRIVED)
            for rank in range(1, self.size):
                self.comm.send(rank, dest=rank, tag=GO)
        else:
            self.comm.send(self.rank, dest=0, tag=ARRIVED)
            self._receive(0, GO)

    @staticmethod
    def _wait(request, stopping: threading.Event | None = None):
        """The request's message once it completes, testing it every few milliseconds; None if
        `stopping` is set first."""
        while not (stopping and stopping.is_set()):
            done, message = request.test()
            if done:
                return message
            time.sleep(POLL_SECONDS)
        return None

    def _receive(self, source: int, tag: int, stopping: threading.Event | None = None):
        """The next message from `source` with `tag` (never None); None if `stopping` is set first.

        A receive left posted when a rank stops (a signal, the leader's scheduler ended) is cancelled,
        so that MPI_Finalize finds no request pending on the communicator (MPICH says "Builtin
        communicator ... has pending references" on the way out otherwise)."""
        request = self.comm.irecv(source=source, tag=tag)
        try:
            message = self._wait(request, stopping)
        except BaseException:
            self._cancel(request)
            raise
        if message is None:
            self._cancel(request)
        return message

    @staticmethod
    def _cancel(request) -> None:
        request.Cancel()
        request.Wait()

    def leader_does(self, work):
        """`work()` on rank 0, its result on every rank; if it raises, every rank raises it."""
        outcome = None
        if self.leader:
            try:
                outcome = ("ok", work())
            except Exception as error:
                outcome = ("error", error)
        self.barrier()
        kind, value = self.comm.bcast(outcome, root=0)
        if kind == "error":
            raise value
        return value

    def run(self, job_fn, jobs, store, report=None) -> None:
        """Every rank runs jobs, in its child worker, until the shared counter passes the last one."""
        # the child takes the rank's slot as it is: the environment that binds it is inherited
        with Supervisor(job_fn, store, [functools.partial(copy.copy, self.slot)]) as child:
            self._share(child, jobs, report)
        self.barrier()

    def _share(self, child: Supervisor, jobs, report) -> None:
        """Take job indices (rank 0 from the counter, the others from rank 0's scheduler), each run by `child`."""
        if self.leader:
            counter, lock = itertools.count(), threading.Lock()

            def take() -> int:
                with lock:
                    index = next(counter)
                if report and index < len(jobs):
                    report(index + 1)
                return index

            stopping = threading.Event()
            scheduler = threading.Thread(target=self._serve, args=(take, len(jobs), stopping), daemon=True)
            scheduler.start()
            try:
                while (index := take()) < len(jobs):
                    child.run([jobs[index]])
            except BaseException:  # stopped, or the child failed: the scheduler's receive is cancelled
                stopping.set()
                raise
            finally:
                scheduler.join()
        else:
            while True:
                self.comm.send(self.rank, dest=0, tag=ASK)
                index = self._receive(0, ANSWER)
                if index >= len(jobs):
                    break
                child.run([jobs[index]])

    def _serve(self, take, count: int, stopping: threading.Event) -> None:
        """Rank 0's scheduler: answer each request with the next index until every other rank is told
        "none left", or until rank 0 stops."""
        told_done = 0
        while told_done < self.size - 1:
            asker = self._receive(self.MPI.ANY_SOURCE, ASK, stopping)
            if asker is None:
                return
            index = take()
            self.comm.send(index, dest=asker, tag=ANSWER)
            told_done += index >= count


class Solo:
    """One process doing everything: the serial and multiprocessing executors' team."""

    leader = True
    slot = WorkerSlot()  # all of the node
    node_environment = None  # shared steps run in this process as they are

    def leader_does(self, work):
        return work()


def run(job_fn, jobs, store, report=None, workers: int = 2, team=None) -> None:
    """The executor's entry: `team` is this rank's Team (made before TensorFlow or JAX loaded)."""
    team.run(job_fn, jobs, store, report)
