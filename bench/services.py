"""Start and stop what the measures run against; read what processes cost from /proc.

The project's own processes (redis-server, `bumps-remote worker`, `jupyter server`) come from
tests.support.services; this module adds the bare Celery worker and the ipyparallel cluster
the measures compare against, and `started()`, which stops a process group on error, Ctrl-C
or SIGTERM too and keeps its log only when something failed. `Base` is what most measures
share: a private Redis, a worker of 2 processes, a `jupyter server` in shared mode on them,
and the kernel API connected to that server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for _path in (REPO, BENCH):  # tests.support, bare_celery
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from jupyter_bumps_remote.worker.fit import process_tree  # noqa: E402
from tests.support.services import JupyterServer, RedisServer, Worker  # noqa: E402

SEED = 20240601
MB = 1024 * 1024
_TICK = os.sysconf("SC_CLK_TCK")


def stop_on_sigterm() -> None:
    """A SIGTERM unwinds through the `finally` clauses, which stop every process."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def kill_group(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL whatever is left of its session (ipcontroller's schedulers
    outlive their parent)."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def _spawn(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    path = os.pathsep.join([str(REPO), str(BENCH), os.environ.get("PYTHONPATH", "")])
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", *command],
            env={**os.environ, "PYTHONPATH": path, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for(ready, process: subprocess.Popen, log: Path, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


class BareWorker:
    """`celery -A bare_celery worker`, prefork with `concurrency` processes on `queue`;
    `contract`: the project's worker settings; `warm`: the fit's imports before the fork."""

    def __init__(
        self,
        redis_url: str,
        queue: str,
        concurrency: int = 1,
        contract: bool = False,
        warm: bool = False,
    ):
        self.redis_url, self.queue, self.concurrency = redis_url, queue, concurrency
        self.contract, self.warm = contract, warm
        self.log = Path(tempfile.mkstemp(prefix="bumps-remote-bench-bare-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> BareWorker:
        env = {
            "BENCH_BARE_REDIS_URL": self.redis_url,
            "BENCH_BARE_CONTRACT": "1" if self.contract else "",
            "BENCH_BARE_WARM": "1" if self.warm else "",
        }
        self.process = _spawn(
            [
                "celery",
                "-A",
                "bare_celery",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(self.concurrency),
                "--queues",
                self.queue,
                "--hostname",
                f"bench-{self.queue}-{os.getpid()}@%h",
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            self.log,
            env,
        )
        _wait_for(
            lambda: b" ready." in self.log.read_bytes(), self.process, self.log, "bare worker"
        )
        return self

    def stop(self) -> None:
        kill_group(self.process)


class IPyCluster:
    """An ipyparallel controller and `engines` engines on 127.0.0.1 in a private profile;
    cloudpickle on, so that a model function typed in a notebook travels by value."""

    def __init__(self, engines: int = 1):
        self.engines = engines
        self.dir = Path(tempfile.mkdtemp(prefix="bumps-remote-bench-ipp-"))
        self.log = self.dir / "cluster.log"
        self.processes: list[subprocess.Popen] = []
        self.client = None

    def start(self, timeout: float = 90) -> IPyCluster:
        import ipyparallel

        profile = f"--profile-dir={self.dir}"
        # the hub registers an engine after its heartbeats: 0.5 s apart instead of 3 s
        controller = _spawn(
            [
                "ipyparallel.controller",
                profile,
                "--ip=127.0.0.1",
                "--HeartMonitor.period=500",
                "--log-level=WARN",
            ],
            self.log,
        )
        self.processes.append(controller)
        security = self.dir / "security"
        files = [security / "ipcontroller-client.json", security / "ipcontroller-engine.json"]
        _wait_for(lambda: all(f.exists() for f in files), controller, self.log, "ipcontroller")
        for _ in range(self.engines):
            self.processes.append(
                _spawn(["ipyparallel.engine", profile, "--log-level=WARN"], self.log)
            )
        self.client = ipyparallel.Client(str(files[0]), timeout=timeout)
        self.client.wait_for_engines(self.engines, timeout=timeout)
        self.client[:].use_cloudpickle().get(timeout)
        return self

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        for process in reversed(self.processes):
            kill_group(process)


@contextlib.contextmanager
def started(service, *, keep: Path | None = None):
    """Start `service`, yield it, stop it; its log (and directory `keep`) are removed
    unless something failed."""
    failed = True
    try:
        yield service.start()
        failed = False
    finally:
        try:
            service.stop()
        finally:
            log = getattr(service, "log", None)
            if failed and log is not None:
                print(f"log kept: {log}", file=sys.stderr)
            elif log is not None:
                Path(log).unlink(missing_ok=True)
            if keep is not None and not failed:
                shutil.rmtree(keep, ignore_errors=True)


@contextlib.contextmanager
def redis():
    server = RedisServer(appendonly=True)  # AOF on, as in the tests
    try:
        yield server.start()
    finally:
        server.cleanup()


@contextlib.contextmanager
def jupyter_server(redis_url: str | None, *, env: dict | None = None, args=()):
    """A real `jupyter server` (token auth) in a temporary home; with `redis_url`, the
    extension in shared mode on that Redis."""
    home = Path(tempfile.mkdtemp(prefix="bumps-remote-bench-server-"))
    shared = [f"--BumpsRemote.redis_url={redis_url}"] if redis_url else []
    with started(JupyterServer(home, env=env, args=[*shared, *args]), keep=home) as server:
        yield server


def worker(redis_url: str, concurrency: int = 2, queue_prefix: str | None = None):
    env = {"BUMPS_REMOTE_QUEUE_PREFIX": queue_prefix} if queue_prefix else None
    return started(Worker(redis_url, concurrency=concurrency, env=env))


@contextlib.contextmanager
def ipyparallel(engines: int = 1):
    cluster = IPyCluster(engines)
    with started(cluster, keep=cluster.dir) as running:
        yield running


class Base:
    """A private Redis, a `bumps-remote worker` of 2 processes and a `jupyter server` in
    shared mode on them; the kernel API (`jupyter_bumps_remote.submit`) connected to it."""

    def __init__(self, stack: contextlib.ExitStack):
        import jupyter_bumps_remote as remote

        self.redis = stack.enter_context(redis())
        self.worker = stack.enter_context(worker(self.redis.url))
        self.server = stack.enter_context(jupyter_server(self.redis.url))
        remote.connect(self.server.url, self.server.token)
        self.remote = remote

    @classmethod
    @contextlib.contextmanager
    def running(cls):
        with contextlib.ExitStack() as stack:
            yield cls(stack)


def quiet_fits() -> None:
    import warnings

    warnings.filterwarnings("ignore", message="Did not converge")


# -- /proc ------------------------------------------------------------------------------------
# RSS counts a page in every process that maps it; PSS shares it out among them, so the PSS
# of a prefork worker's processes adds up to what the worker costs the machine.


def memory(pid: int) -> dict:
    """{"rss": bytes, "pss": bytes} of one process."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            out[name.lower()] = int(rest.split()[0]) * 1024
    return out


def session_pids(leader: int) -> list[int]:
    """The leader and every process of its session (each service starts in one)."""
    found = subprocess.run(["pgrep", "-s", str(leader)], capture_output=True, text=True)
    return [leader, *(int(p) for p in found.stdout.split() if int(p) != leader)]


def session_memory(leader: int) -> dict:
    each = [memory(pid) for pid in session_pids(leader)]
    return {
        "rss": sum(m["rss"] for m in each),
        "pss": sum(m["pss"] for m in each),
        "processes": len(each),
    }


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime: children count once reaped."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy so far (/proc/stat: all but idle and
    iowait), whoever spent them: beside our processes' own CPU, it says whether a sweep
    waited for CPUs that others took."""
    # user nice system idle iowait irq softirq steal guest guest_nice: guest time is also
    # counted in user and nice, and steal is a hypervisor's, not this machine's work
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = ticks[:7]
    return (user + nice + system + irq + softirq) / _TICK


def worker_cpu_by_role(leader: int) -> dict[str, float]:
    """CPU seconds so far of a `bumps-remote worker`'s processes by role: "main" (Celery's
    consumer), "pool" (its pool processes) and "fit" (the fit launcher and the fit
    processes it forked, alive or reaped into its children's time)."""
    pids = session_pids(leader)
    parent = {pid: process_tree.parent_of(pid) for pid in pids}
    launchers = {pid for pid in pids if parent[pid] == leader and _is_fit_launcher(pid)}
    used = {"main": 0.0, "pool": 0.0, "fit": 0.0}
    for pid in pids:
        role = "main" if pid == leader else "fit" if _under(pid, launchers, parent) else "pool"
        with contextlib.suppress(FileNotFoundError):  # ended: its time went to its parent
            used[role] += cpu_seconds(pid)
    return used


def _is_fit_launcher(pid: int) -> bool:
    try:
        return b"worker.fit.launcher" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _under(pid: int | None, ancestors: set[int], parent: dict[int, int | None]) -> bool:
    while pid is not None:
        if pid in ancestors:
            return True
        pid = parent.get(pid)
    return False


def session_cpu(leader: int) -> float:
    total = 0.0
    for pid in session_pids(leader):
        with contextlib.suppress(FileNotFoundError):  # ended: its time went to its parent
            total += cpu_seconds(pid)
    return total
