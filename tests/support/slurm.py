"""A real single-node Slurm for the tests: munged, slurmctld and slurmd (Debian's slurm-wlm
and munge), started as root with their configuration, key, sockets, state and logs in a
temp dir, on free loopback ports; stopped and removed at the end.

The node is this machine (CPUs=2, its memory); processes are tracked by /proc
(proctrack/linuxproc) and not confined (task/none), so no cgroup is touched. Tests reach the
cluster through Slurm's own commands with `SLURM_CONF` pointing at its slurm.conf (`env`).
Without root or the binaries the tests skip, unless BUMPS_REMOTE_TEST_REQUIRE names `slurm`
(as `./run test` sets it): then they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

import pytest

from .libraries import REQUIRE_VARIABLE, required
from .services import JupyterServer, RedisServer, free_port
from .waiting import wait_until

DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sbatch", "squeue", "scancel", "sinfo", "scontrol")
# daemons live in sbin, which a non-login root shell may not have on PATH
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def why_not() -> str | None:
    """Why a Slurm cannot be started here, or None."""
    if os.geteuid() != 0:
        return "Slurm's daemons (slurmd launches jobs as their user) need root"
    for name in DAEMONS + COMMANDS:
        if shutil.which(name, path=SEARCH_PATH) is None:
            return f"{name} is not installed (apt-get install slurm-wlm munge)"
    return None


def require_slurm() -> None:
    """Skip the test where Slurm cannot run (fail, where BUMPS_REMOTE_TEST_REQUIRE has slurm)."""
    reason = why_not()
    if reason is None:
        return
    if "slurm" in required():
        pytest.fail(f"Slurm is required in this environment ({REQUIRE_VARIABLE}): {reason}")
    pytest.skip(reason)


def memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


class SlurmCluster:
    """One node, one partition (`debug`), jobs of any user up to the node's 2 CPUs."""

    CPUS = 2
    PARTITION = "debug"
    KILL_WAIT = 15

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="bumps-remote-slurm-"))
        # munged refuses a socket in a directory others cannot traverse
        self.dir.chmod(0o755)
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.dir / "slurm.conf"
        self.munge_socket = self.dir / "munge.socket"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.env["PATH"] = SEARCH_PATH
        self.processes: dict[str, subprocess.Popen] = {}

    def _write_config(self) -> None:
        d = self.dir
        for sub in ("state", "spool", "logs"):
            (d / sub).mkdir()
        settings = {
            "ClusterName": "bumpsremote",
            "SlurmctldHost": f"{self.node}(127.0.0.1)",
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "SlurmctldPort": str(free_port()),
            "SlurmdPort": str(free_port()),
            "StateSaveLocation": str(d / "state"),
            "SlurmdSpoolDir": str(d / "spool"),
            "SlurmctldPidFile": str(d / "slurmctld.pid"),
            "SlurmdPidFile": str(d / "slurmd.pid"),
            "SlurmctldLogFile": str(d / "logs" / "slurmctld.log"),
            "SlurmdLogFile": str(d / "logs" / "slurmd.log"),
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "JobCompType": "jobcomp/none",
            "SchedulerType": "sched/backfill",
            "SelectType": "select/cons_tres",
            # CPUs only: memory is checked against the node at submission, not shared out
            "SelectTypeParameters": "CR_CPU",
            # the node as written here, whatever the hardware says (a CI machine may differ)
            "SlurmdParameters": "config_overrides",
            "MpiDefault": "none",
            "MailProg": "/bin/true",
            "ReturnToService": "2",
            # SIGTERM to SIGKILL at the walltime or on scancel (30 s by default), kept short
            # so that a cancelled worker job ends soon
            "KillWait": str(self.KILL_WAIT),
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines += [
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.CPUS} "
            f"RealMemory={memory_mb()} State=UNKNOWN",
            f"PartitionName={self.PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE "
            "State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        # read by slurmd if a cgroup plugin is ever loaded; none is, with the plugins above
        (d / "cgroup.conf").write_text("CgroupAutomount=no\nConstrainCores=no\n")
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)

    def _daemon(self, name: str, *args: str) -> None:
        log = open(self.dir / "logs" / f"{name}.out", "ab")  # noqa: SIM115 - closed in stop()
        self.processes[name] = subprocess.Popen(
            [shutil.which(name, path=SEARCH_PATH) or name, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()  # the child holds its own copy

    def start(self, timeout: float = 60) -> SlurmCluster:
        self._write_config()
        d = self.dir
        self._daemon(
            "munged",
            "--foreground",
            f"--socket={self.munge_socket}",
            f"--key-file={d / 'munge.key'}",
            f"--log-file={d / 'logs' / 'munged.log'}",
            f"--pid-file={d / 'munged.pid'}",
            f"--seed-file={d / 'munged.seed'}",
        )
        self._wait(self.munge_socket.exists, timeout, "munged's socket")
        self._daemon("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._daemon("slurmd", "-D", "-N", self.node, "-f", str(self.conf))
        self._wait(lambda: self.node_state() == "idle", timeout, "the node to be idle in sinfo")
        return self

    def _wait(self, predicate, timeout: float, what: str) -> None:
        def ready():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.logs()}")
            return predicate()

        try:
            wait_until(ready, timeout, what, interval=0.2)
        except AssertionError as e:
            raise RuntimeError(f"{e}: {self.logs()}") from None

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}"
            for path in sorted((self.dir / "logs").glob("*"))
        )

    def command(self, *args: str) -> str:
        done = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def node_state(self) -> str:
        try:
            return self.command("sinfo", "--noheader", "-N", "-o", "%T").strip()
        except RuntimeError:
            return ""  # slurmctld not answering yet

    def job_ids(self) -> list[str]:
        """Every job Slurm holds (pending, running, completing)."""
        out = self.command("squeue", "--noheader", "-o", "%i")
        return out.split()

    def job_state(self, job_id: str) -> str:
        """A job's state as Slurm reports it (JobState and Reason), ended ones included (for
        MinJobAge, 300 s by default)."""
        shown = self.command("scontrol", "show", "job", "-o", job_id)
        return " ".join(
            field for field in shown.split() if field.startswith(("JobState=", "Reason="))
        )

    def cancel_all(self, timeout: float = 90) -> None:
        """Cancel every job and wait until Slurm holds none (a worker's warm shutdown, at
        most Slurm's KillWait, then SIGKILL)."""
        ids = self.job_ids()
        if ids:
            self.command("scancel", *ids)
        wait_until(lambda: not self.job_ids(), timeout, "Slurm's jobs to end", interval=0.2)

    def stop(self) -> None:
        try:
            if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
                self.cancel_all()
        finally:
            # slurmd before slurmctld before munged: each needs the next while it stops
            for name in ("slurmd", "slurmctld", "munged"):
                process = self.processes.get(name)
                if process is not None and process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(10)
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm():
    """The session's Slurm (started by the first test that asks for it)."""
    require_slurm()
    cluster = SlurmCluster()
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


class SlurmSite:
    """What a facility runs around its Slurm: a Redis with a password (as a shared one is),
    a Jupyter server in shared mode on it, and `bumps-remote slurm` run as a user would, its
    files in `dir`. No worker: the workers are Slurm's jobs."""

    PASSWORD = "slurm-" + os.urandom(8).hex()

    def __init__(self, cluster: SlurmCluster, home: Path):
        self.cluster = cluster
        self.dir = home / "slurm"
        self.redis = RedisServer(appendonly=False, user="bumps", password=self.PASSWORD).start()
        self.env = {**cluster.env, "BUMPS_REMOTE_REDIS_URL": self.redis.url}
        self._server = JupyterServer(
            home / "server", args=[f"--BumpsRemote.redis_url={self.redis.url}"]
        )
        self._background: list[tuple[subprocess.Popen, IO[bytes]]] = []

    @property
    def server(self) -> JupyterServer:
        """The Jupyter server, started by the first test step that uses it."""
        if self._server.process is None:
            self._server.start()
        return self._server

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`bumps-remote slurm ARGS --dir DIR`, as a user runs it on the login node."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter_bumps_remote.cli",
                "slurm",
                *args,
                "--dir",
                str(self.dir),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"bumps-remote slurm {' '.join(args)}: {done.stderr}")
        return done

    def background(self, *args: str) -> tuple[subprocess.Popen, Path]:
        """`bumps-remote slurm ARGS` left running (adapt), its output in a file."""
        log_path = self.dir.parent / f"slurm-{len(self._background)}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_bumps_remote.cli",
                "slurm",
                *args,
                "--dir",
                str(self.dir),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._background.append((process, log))
        return process, log_path

    def submit_fit(self, problem) -> dict:
        """A fit through the Jupyter server's REST API, queued until a worker comes."""
        from jupyter_bumps_remote.shared import transport

        body = {"payload": transport.encode(problem), "fitter": "lm", "wait_for_worker": True}
        response = self.server.api("POST", "jobs", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def job(self, job_id: str) -> dict:
        response = self.server.api("GET", f"jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_job(self, job_id: str, timeout: float) -> dict:
        """The job's record once it has ended; AssertionError with the workers' logs if not."""
        from jupyter_bumps_remote.shared import jobs

        def ended():
            record = self.job(job_id)
            return record if record["status"] in jobs.TERMINAL else None

        try:
            return wait_until(ended, timeout, f"job {job_id} to end", interval=0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.job(job_id)}\n{self.worker_logs()}") from None

    def workers(self) -> list[dict]:
        response = self.server.api("GET", "workers")
        assert response.status_code == 200, response.text
        return response.json()["workers"]

    def worker_logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted((self.dir / "logs").glob("*"))
        )

    def close(self) -> None:
        for process, log in self._background:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
            log.close()
        try:
            self.cluster.cancel_all()
        finally:
            self._server.stop()
            self.redis.cleanup()


@pytest.fixture
def slurm_site(slurm, tmp_path):
    """A fresh Redis and Jupyter server on the session's Slurm; its jobs cancelled after."""
    site = SlurmSite(slurm, tmp_path)
    yield site
    site.close()
