"""A real one-node SLURM on this machine for the tests: munge and slurm-wlm from Debian, on loopback.

Everything lives in one scratch folder (config, state, logs, munge's key and socket), the daemons are
started here and stopped by process id, and nothing under /etc is touched. `make test` installs the
packages (tests/system/install.sh). `start` raises SlurmUnavailable with the reason when the cluster
cannot come up (not root, packages missing, a daemon that exits), so the test can say why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SBIN = ("/usr/sbin", "/sbin")
PORTS = (16817, 16818)  # slurmctld, slurmd: away from the defaults in case a real SLURM runs here


class SlurmUnavailable(Exception):
    pass


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))
    if not found:
        raise SlurmUnavailable(f"{name} is not installed: `make test` installs slurm-wlm and munge")
    return found


class OneNodeSlurm:
    def __init__(self, cpus: int | None = None):
        self.cpus = cpus or os.cpu_count() or 1
        self.host = socket.gethostname().split(".")[0]
        self.daemons: list[subprocess.Popen] = []
        self.root: Path | None = None

    @property
    def env(self) -> dict:
        """The environment in which sbatch, squeue and sacct talk to this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.root / "slurm.conf")}

    def start(self) -> "OneNodeSlurm":
        if os.geteuid() != 0:
            raise SlurmUnavailable("starting slurmctld, slurmd and munged needs root")
        tools = {name: _tool(name) for name in ("munged", "slurmctld", "slurmd", "sinfo", "sbatch")}
        try:
            munge_user = pwd.getpwnam("munge")
        except KeyError:
            raise SlurmUnavailable("there is no munge user: the munge package is not installed properly") from None
        self.root = Path(tempfile.mkdtemp(prefix="lth-slurm-"))
        self.root.chmod(0o755)  # munged runs as `munge` and must reach its folder
        munge, sockets = self.root / "munge", self.root / "munge-socket"  # munged wants the key private
        munge.mkdir(mode=0o700)                                            # and its socket's folder open
        sockets.mkdir(mode=0o755)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for path in (munge, sockets, key):
            os.chown(path, munge_user.pw_uid, munge_user.pw_gid)
        self.socket = sockets / "munge.socket"
        self._daemon(["runuser", "-u", "munge", "--", tools["munged"], "--foreground", f"--socket={self.socket}",
                      f"--key-file={key}", f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                      f"--seed-file={munge / 'munged.seed'}"], waits_for=self.socket)
        for folder in ("state", "spool", "logs"):
            (self.root / folder).mkdir()
        (self.root / "slurm.conf").write_text(self._config())
        conf = ["-f", str(self.root / "slurm.conf")]
        self._daemon([tools["slurmctld"], "-D", "-i", *conf], waits_for=None)
        self._daemon([tools["slurmd"], "-D", "-N", self.host, *conf], waits_for=None)
        self._wait_until_idle(tools["sinfo"])
        return self

    def _config(self) -> str:
        root = self.root
        return "\n".join([
            "ClusterName=lth-test",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={PORTS[0]}", f"SlurmdPort={PORTS[1]}",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.socket}",
            "SlurmUser=root", "SlurmdUser=root",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/backfill", "ReturnToService=2",
            f"StateSaveLocation={root / 'state'}", f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}", f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'logs' / 'slurmctld.log'}", f"SlurmdLogFile={root / 'logs' / 'slurmd.log'}",
            "JobCompType=jobcomp/none", "AccountingStorageType=accounting_storage/none",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=4000 State=UNKNOWN",
            f"PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
            "",
        ])

    def _daemon(self, command: list[str], waits_for: Path | None) -> None:
        log = open(self.root / f"{Path(command[0]).name}-{len(self.daemons)}.out", "wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.daemons.append(process)
        deadline = time.monotonic() + 20
        while waits_for is not None and not waits_for.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SlurmUnavailable(f"{' '.join(command[:4])} did not start: {self._logs()}")
            time.sleep(0.1)

    def _wait_until_idle(self, sinfo: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stopped = [p for p in self.daemons if p.poll() is not None]
            if stopped:
                raise SlurmUnavailable(f"{stopped[0].args[0]} exited with {stopped[0].returncode}: {self._logs()}")
            state = subprocess.run([sinfo, "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if state.stdout.strip() == "idle":
                return
            time.sleep(0.5)
        raise SlurmUnavailable(f"the node did not become idle within 60 s: {self._logs()}")

    def _logs(self) -> str:
        tails = []
        for path in sorted(self.root.rglob("*.log")) + sorted(self.root.glob("*.out")):
            lines = path.read_text(errors="replace").strip().splitlines()[-3:]
            if lines:
                tails.append(f"{path.name}: {' | '.join(lines)}")
        return "; ".join(tails) or "no log output"

    def stop(self) -> None:
        for process in reversed(self.daemons):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "OneNodeSlurm":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
