"""A real single-node SLURM (munge, slurmctld, slurmd) with a CPU and a GPU partition, for tests.

The cluster lives in a folder of its own: its slurm.conf and gres.conf, state, spool, logs, PID
files and fake GPU device files. Client commands find it through ``SLURM_CONF`` (see `env`), so
nothing is written to /etc/slurm and a machine's own SLURM (a login node, an earlier local
cluster) is neither used nor disturbed. The SLURM job-step executor drops ``SLURM_*`` variables
such as ``SLURM_CONF`` from a job's environment before it calls ``srun``; a ``srun`` wrapper first
on ``PATH`` (which jobs inherit) sets it again. Free ports are picked at start. Every daemon
started here is stopped by its PID; munged is reused when one already answers. Installing the
packages is not done here but by ``tests/setup_slurm.sh`` (run by ``make test``). Without
accounting (no slurmdbd), ``sacct`` does not work: run Snakemake with ``--slurm-status-command
squeue`` (the controller keeps finished jobs for ``MinJobAge`` = 600 s, so ``scontrol show job``
also reports them after the run).
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SBIN = Path("/usr/sbin")
MUNGE_RUN_DIR = Path("/run/munge")
SETUP = "tests/setup_slurm.sh"


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or started on this machine (the reason says why)."""


def _which(name: str) -> str | None:
    """Path of an executable on PATH or in /usr/sbin (not on a normal user's PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = SBIN / name
    return str(candidate) if candidate.exists() else None


def is_installed() -> bool:
    """Whether the daemons and the client commands are installed."""
    return all(_which(name) for name in ("slurmctld", "slurmd", "sbatch", "munged", "munge"))


def _free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM one process, wait, then SIGKILL it if it is still there."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not _pid_alive(pid):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)


@dataclass
class SlurmCluster:
    """One controller and one compute node on this machine, two partitions, fake GPUs."""

    root: Path
    cpu_partition: str = "cpu"
    gpu_partition: str = "gpu"
    n_gpus: int = 2
    cpus: int = 16
    memory_mb: int = 256_000
    pids: dict[str, int] = field(default_factory=dict)
    nodename: str = field(default_factory=lambda: socket.gethostname().split(".")[0])

    @property
    def conf(self) -> Path:
        """The slurm.conf of this cluster (gres.conf sits next to it, where SLURM looks)."""
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment for SLURM client commands (and Snakemake) talking to this cluster."""
        path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return dict(os.environ, SLURM_CONF=str(self.conf), PATH=path)

    def _write_config(self) -> None:
        """Write slurm.conf and gres.conf (fake GPU device files).

        The node is declared with `cpus` cores and `memory_mb` memory whatever the machine has
        (``SlurmdParameters=config_overrides``; nothing enforces limits without cgroups), so jobs
        sized for a real cluster (8 threads, 32 GB) are scheduled here too, only slower.
        """
        for sub in ("etc", "bin", "state", "spool", "log", "run", "fakegpu"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        srun = _which("srun")
        if srun is None:
            raise SlurmUnavailable(f"srun is not installed; run {SETUP} as root")
        wrapper = self.root / "bin" / "srun"
        wrapper.write_text(
            "#!/bin/sh\n# srun of the test cluster: jobs lose SLURM_CONF on the way to srun\n"
            f"SLURM_CONF='{self.conf}' exec '{srun}' \"$@\"\n"
        )
        wrapper.chmod(0o755)
        gpu_files = [self.root / "fakegpu" / f"nvidia{i}" for i in range(self.n_gpus)]
        for path in gpu_files:
            path.touch()
        user = getpass.getuser()
        conf = f"""\
ClusterName=unitpsychtest
SlurmctldHost={self.nodename}(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser={user}
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmdParameters=config_overrides
SlurmctldPidFile={self.root}/run/slurmctld.pid
SlurmdPidFile={self.root}/run/slurmd.pid
SlurmctldLogFile={self.root}/log/slurmctld.log
SlurmdLogFile={self.root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
GresTypes=gpu
MinJobAge=600
MpiDefault=none
SwitchType=switch/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
NodeName={self.nodename} NodeAddr=127.0.0.1 CPUs={self.cpus} Boards=1 SocketsPerBoard=1 \
CoresPerSocket={self.cpus} ThreadsPerCore=1 RealMemory={self.memory_mb} Gres=gpu:{self.n_gpus} \
State=UNKNOWN
PartitionName={self.cpu_partition} Nodes={self.nodename} Default=YES MaxTime=INFINITE State=UP
PartitionName={self.gpu_partition} Nodes={self.nodename} Default=NO MaxTime=INFINITE State=UP
"""
        self.conf.write_text(conf)
        files = f"{self.root}/fakegpu/nvidia[0-{self.n_gpus - 1}]"
        (self.conf.parent / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={self.nodename} Name=gpu File={files}\n"
        )

    def _munge_works(self) -> bool:
        """Whether a munged answers on the default socket."""
        munge = subprocess.run([_which("munge") or "munge", "-n"], capture_output=True)
        if munge.returncode != 0:
            return False
        unmunge = subprocess.run(
            [_which("unmunge") or "unmunge"], input=munge.stdout, capture_output=True
        )
        return unmunge.returncode == 0

    def _start_munge(self) -> None:
        """Start munged as the munge user unless one already runs."""
        if self._munge_works():
            return
        MUNGE_RUN_DIR.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_RUN_DIR, "munge", "munge")
        if not Path("/etc/munge/munge.key").exists():
            subprocess.run([_which("mungekey") or "mungekey", "--create"], check=True)
            shutil.chown("/etc/munge/munge.key", "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", _which("munged")], check=True)
        self.pids["munged"] = int((MUNGE_RUN_DIR / "munged.pid").read_text())
        self._wait(self._munge_works, 10, "munged does not answer")

    def _start_daemon(self, name: str) -> None:
        """Start slurmctld or slurmd (they daemonize) and remember the PID from its pid file."""
        pid_file = self.root / "run" / f"{name}.pid"
        result = subprocess.run(
            [_which(name), "-f", str(self.conf)], env=self.env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise SlurmUnavailable(f"{name} did not start: {result.stderr}{self._log_tail(name)}")
        self._wait(pid_file.exists, 15, f"{name} wrote no pid file")
        self.pids[name] = int(pid_file.read_text())

    def _log_tail(self, name: str, n: int = 20) -> str:
        """The last lines of a daemon's log, for error messages."""
        log = self.root / "log" / f"{name}.log"
        return "\n".join(log.read_text().splitlines()[-n:]) if log.exists() else ""

    @staticmethod
    def _wait(check, timeout: float, message: str) -> None:
        """Poll `check()` until it is true, or raise SlurmUnavailable after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise SlurmUnavailable(message)

    def node_state(self) -> str:
        """The node's state as sinfo reports it (idle, mixed, drain, ...)."""
        result = self.run(["sinfo", "-h", "-N", "-n", self.nodename, "-o", "%t"], check=False)
        states = set(result.stdout.split())  # one line per partition the node belongs to
        return states.pop() if len(states) == 1 else ",".join(sorted(states))

    def run(self, command: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=check)

    def start(self) -> SlurmCluster:
        """Write the config, start munged, slurmctld and slurmd, and wait until the node is idle."""
        self._write_config()
        try:
            self._start_munge()
            self._start_daemon("slurmctld")
            self._start_daemon("slurmd")
            deadline = time.monotonic() + 60
            while self.node_state() != "idle":
                if time.monotonic() > deadline:
                    raise SlurmUnavailable(
                        f"node {self.nodename} is {self.node_state()!r}, not idle, after 60 s:\n"
                        + self._log_tail("slurmctld")
                    )
                if self.node_state().startswith(("drain", "inval", "down")):
                    self.run(
                        ["scontrol", "update", f"nodename={self.nodename}", "state=resume"],
                        check=False,
                    )
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise
        return self

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller knows (running or finished within MinJobAge), as key/values."""
        out = self.run(["scontrol", "show", "job", "-o"], check=False).stdout
        jobs = []
        for line in out.splitlines():
            if not line.startswith("JobId="):
                continue
            # values may contain spaces only in the last fields we do not use; split on ' Key='
            pairs = re.findall(r"(\w[\w:/]*)=(.*?)(?= \w[\w:/]*=|$)", line)
            jobs.append(dict(pairs))
        return jobs

    def stop(self) -> None:
        """Cancel this user's jobs, then stop slurmd, slurmctld and (if started here) munged."""
        if "slurmctld" in self.pids:
            self.run(["scancel", "-u", getpass.getuser()], check=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                queue = self.run(["squeue", "-h", "-o", "%i"], check=False)
                if queue.returncode != 0 or not queue.stdout.strip():
                    break
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is not None:
                _stop_pid(pid)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # manual check: start, submit one CPU and one GPU job, stop
    import tempfile

    if not is_installed():
        raise SystemExit(f"SLURM is not installed; run {SETUP} as root")
    with SlurmCluster(Path(tempfile.mkdtemp(prefix="slurm-"))) as cluster:
        print("node:", cluster.node_state())
        print(cluster.run(["srun", "-p", cluster.gpu_partition, "--gpus=1", "env"]).stdout)
        print(cluster.jobs())
