"""A real single-node Slurm cluster for the tests: munged, slurmctld and slurmd in one temp directory.

No cgroups (``proctrack/linuxproc``, ``task/none``), root as the Slurm user, ports on
127.0.0.1, every state, spool, pid and log file under the cluster's directory. The
directory lives under /var/tmp, world-traversable, because munged runs as ``munge`` and
/tmp is not traversable for it on these machines. :func:`start` returns a :class:`Cluster`
or raises :class:`NoCluster` with the reason (the test then reports it: realparts.missing).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HOW = "install Slurm and munge: .ci/setup.d/41-slurm.sh (apt slurm-wlm munge)"


class NoCluster(Exception):
    """The cluster could not start; the message says why."""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.procs: list[subprocess.Popen[bytes]] = []

    def cmd(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """A Slurm command (srun, sbatch, scontrol ...) against this cluster."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted(self.root.glob("*.log")))

    def stop(self) -> None:
        for pidfile in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
            try:
                os.kill(int((self.root / pidfile).read_text().strip()), 15)
            except (OSError, ValueError):
                pass
        time.sleep(0.3)
        shutil.rmtree(self.root, ignore_errors=True)


def _conf(c: Cluster, host: str) -> str:
    r = c.root
    return f"""ClusterName=wptest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_port()}
SlurmdPort={_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={r}/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
ReturnToService=2
MpiDefault=none
JobRequeue=1
KillWait=5
SchedulerParameters=defer_batch
NodeName={host} NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _run(args: list[str], what: str, **kw: object) -> None:
    out = subprocess.run(args, capture_output=True, text=True, timeout=30, **kw)  # type: ignore[call-overload]
    if out.returncode != 0:
        raise NoCluster(f"{what} failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-500:]}")


def start() -> Cluster:
    for prog in ("munged", "mungekey", "slurmctld", "slurmd", "srun", "sbatch", "scontrol"):
        if shutil.which(prog) is None and not os.path.exists(f"/usr/sbin/{prog}"):
            raise NoCluster(f"program {prog!r} is not installed ({HOW})")
    if os.geteuid() != 0:
        raise NoCluster("the test cluster runs slurmd as root; these tests must run as root")
    root = Path(tempfile.mkdtemp(prefix="wp-slurm-", dir="/var/tmp"))
    root.chmod(0o755)
    c = Cluster(root)
    try:
        munge = root / "munge"
        munge.mkdir(mode=0o755)
        shutil.chown(munge, "munge", "munge")
        _run(["runuser", "-u", "munge", "--", "mungekey", "-c", "-k", str(munge / "munge.key")], "mungekey")
        _run(["runuser", "-u", "munge", "--", "munged", f"--key-file={munge}/munge.key",
              f"--socket={munge}/munge.socket", f"--pid-file={munge}/munged.pid",
              f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"], "munged")
        for d in ("state", "spool"):
            (root / d).mkdir()
        host = socket.gethostname().split(".")[0]
        c.conf.write_text(_conf(c, host))
        _run(["slurmctld", "-f", str(c.conf)], "slurmctld", env=c.env)
        _run(["slurmd", "-f", str(c.conf), "-N", host], "slurmd", env=c.env)
        deadline = time.monotonic() + 20
        while True:
            out = c.cmd("sinfo", "-h", "-o", "%t")
            if out.returncode == 0 and out.stdout.strip() in ("idle", "mix", "alloc"):
                return c
            if time.monotonic() > deadline:
                raise NoCluster(f"the node never came up: sinfo says {out.stdout.strip() or out.stderr.strip()}"
                                f"\n{c.logs()}")
            time.sleep(0.2)
    except BaseException:
        c.stop()
        raise
