"""`bumps-remote slurm adapt`: as many Slurm worker jobs as the fits need, within bounds.

Each cycle reads the fits waiting in the environment's queues and the fits the Slurm workers
hold, and compares them with what the jobs can run at once (a pending job counts for what
its script will run). Short: it submits jobs, up to the maximum. Over: it removes what is
not needed, down to the minimum, cheapest first: pending jobs (scancel: they hold nothing),
then workers idle for `idle_seconds` (told to shut down through Celery, which finishes
anything that reached them meanwhile before exiting, where scancel's SIGKILL after Slurm's
KillWait would cut it). A running job whose worker has not advertised itself yet is
starting: it counts, and is left alone. Why these rules: docs/cluster.md#adapt.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from . import slurm_client
from .slurm_client import SlurmError
from .slurm_workers import WorkerJob

# A retired worker whose Slurm job is still there after this long is cancelled.
RETIRE_GRACE = 120.0


@dataclasses.dataclass(frozen=True)
class Plan:
    submit: int = 0
    cancel: tuple[str, ...] = ()  # pending Slurm jobs
    retire: tuple[str, ...] = ()  # names of idle workers to shut down

    def __bool__(self) -> bool:
        return bool(self.submit or self.cancel or self.retire)


@dataclasses.dataclass(frozen=True)
class Bounds:
    minimum: int
    maximum: int
    fits_per_job: int  # what a job not yet advertised will run at once
    idle_seconds: float


def capacity(job: WorkerJob, bounds: Bounds) -> int:
    return job.concurrency or bounds.fits_per_job


def plan(
    queued: int,
    jobs: list[WorkerJob],
    held: Mapping[str, int],
    idle_since: Mapping[str, float],
    now: float,
    bounds: Bounds,
) -> Plan:
    """What to do about `jobs` (those not being retired) given `queued` waiting fits and the
    fits each worker holds (`held`; a worker missing there did not answer: busy or not, it
    stays)."""
    busy = sum(held.get(j.name, 0) for j in jobs if j.name)
    demand = queued + busy
    supply = sum(capacity(j, bounds) for j in jobs)
    count = len(jobs)
    if count < bounds.minimum or (demand > supply and count < bounds.maximum):
        short = math.ceil(max(0, demand - supply) / bounds.fits_per_job)
        wanted = max(bounds.minimum - count, short)
        return Plan(submit=min(wanted, bounds.maximum - count))
    cancel: list[str] = []
    retire: list[str] = []
    spare = supply - demand

    def removable(size: int) -> bool:
        left = count - len(cancel) - len(retire)
        return left > bounds.minimum and (left > bounds.maximum or size <= spare)

    for job in sorted((j for j in jobs if j.job.pending), key=lambda j: -int(j.job.id)):
        if removable(capacity(job, bounds)):
            cancel.append(job.job.id)
            spare -= capacity(job, bounds)
    idle = [
        j
        for j in jobs
        if j.name is not None
        and held.get(j.name) == 0
        and now - idle_since.get(j.name, now) >= bounds.idle_seconds
    ]
    for job in sorted(idle, key=lambda j: idle_since.get(j.name or "", now)):
        if removable(capacity(job, bounds)) and job.name:
            retire.append(job.name)
            spare -= capacity(job, bounds)
    return Plan(cancel=tuple(cancel), retire=tuple(retire))


@dataclasses.dataclass
class Cluster:
    """What the loop reads and does, each a callable, so that its rules run the same on a
    real cluster and in unit tests."""

    jobs: Callable[[], list[WorkerJob]]
    queued: Callable[[], int]
    held: Callable[[list[str]], dict[str, int]]
    submit: Callable[[], str]
    cancel: Callable[[list[str]], None]
    retire: Callable[[str], None]


class Adapter:
    """The loop's memory between cycles: since when each worker is idle, which are retiring."""

    def __init__(self, cluster: Cluster, bounds: Bounds, say: Callable[[str], None] = print):
        self.cluster, self.bounds, self.say = cluster, bounds, say
        self.idle_since: dict[str, float] = {}
        self.retiring: dict[str, float] = {}  # Slurm job id -> when its worker was told
        self._last = ""

    def step(self, now: float | None = None) -> Plan:
        now = time.monotonic() if now is None else now
        jobs = self.cluster.jobs()
        ids = {j.job.id for j in jobs}
        self.retiring = {i: t for i, t in self.retiring.items() if i in ids}
        late = [i for i, t in self.retiring.items() if now - t > RETIRE_GRACE]
        if late:
            self.cluster.cancel(late)
            self.say(f"cancelled {', '.join(late)}: retired workers still there")
        live = [j for j in jobs if j.job.id not in self.retiring]
        names = [j.name for j in live if j.name]
        held = self.cluster.held(names)
        for name in names:
            if held.get(name) == 0:
                self.idle_since.setdefault(name, now)
            else:
                self.idle_since.pop(name, None)
        self.idle_since = {n: t for n, t in self.idle_since.items() if n in names}
        queued = self.cluster.queued()
        decided = plan(queued, live, held, self.idle_since, now, self.bounds)
        self._report(queued, live, held, decided)
        self._act(decided, live, now)
        return decided

    def _act(self, decided: Plan, live: list[WorkerJob], now: float) -> None:
        submitted = [self.cluster.submit() for _ in range(decided.submit)]
        if submitted:
            self.say(f"submitted {', '.join(submitted)}")
        if decided.cancel:
            self.cluster.cancel(list(decided.cancel))
            self.say(f"cancelled pending {', '.join(decided.cancel)}")
        by_name = {j.name: j for j in live if j.name}
        for name in decided.retire:
            self.cluster.retire(name)
            self.retiring[by_name[name].job.id] = now
            self.idle_since.pop(name, None)
            self.say(f"retired idle worker {name} (Slurm job {by_name[name].job.id})")

    def _report(self, queued: int, live: list[WorkerJob], held: Mapping[str, int], decided) -> None:
        pending = sum(1 for j in live if j.job.pending)
        busy = sum(held.get(j.name, 0) for j in live if j.name)
        line = (
            f"{queued} fits queued, {busy} held; {len(live)} jobs ({pending} pending), "
            f"{len(self.retiring)} retiring"
        )
        if line != self._last or decided:
            self.say(line)
            self._last = line

    def run(self, interval: float, stop: threading.Event) -> None:
        """Cycles `interval` s apart until `stop` is set; a failed cycle is reported and the
        next one tried (Slurm or Redis may be back by then)."""
        while not stop.is_set():
            try:
                self.step()
            except (SlurmError, OSError) as e:
                self.say(f"this cycle failed, trying again in {interval:g} s: {e}")
            except Exception as e:  # noqa: BLE001 - Redis errors and the like: keep adapting
                self.say(
                    f"this cycle failed ({type(e).__name__}), trying again in {interval:g} s: {e}"
                )
            stop.wait(interval)


def timestamped(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} bumps-remote slurm adapt: {line}", flush=True)
    sys.stdout.flush()


def slurm_cluster(
    script: Path,
    job_name: str,
    env: Mapping[str, str],
    redis_client,
    store,
    app,
    queues: list[str],
) -> Cluster:
    """The Cluster of a real Slurm, Redis and Celery."""
    from .slurm_workers import held_fits, pair, queue_depth

    def jobs() -> list[WorkerJob]:
        found = [j for j in slurm_client.jobs(job_name, env) if not j.ending]
        return pair(found, store.workers(), job_name)

    return Cluster(
        jobs=jobs,
        queued=lambda: queue_depth(redis_client, queues),
        held=lambda names: held_fits(app, names),
        submit=lambda: slurm_client.submit(script, env),
        cancel=lambda ids: slurm_client.cancel(ids, env),
        retire=lambda name: app.control.shutdown(destination=[name]),
    )
