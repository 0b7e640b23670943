"""The rules of `bumps-remote slurm adapt` (cli/adapt.py), on scripted clusters."""

from __future__ import annotations

from jupyter_bumps_remote.cli.adapt import Adapter, Bounds, Cluster, Plan, plan
from jupyter_bumps_remote.cli.slurm_client import SlurmJob
from jupyter_bumps_remote.cli.slurm_workers import WorkerJob, pair, strays

BOUNDS = Bounds(minimum=0, maximum=4, fits_per_job=2, idle_seconds=60)


def pending(job_id: str) -> WorkerJob:
    return WorkerJob(SlurmJob(job_id, "PENDING", "0:00", "1:00:00", "(Priority)"))


def running(job_id: str, concurrency: int | None = 2) -> WorkerJob:
    worker = None if concurrency is None else {"name": f"w-{job_id}", "concurrency": concurrency}
    return WorkerJob(SlurmJob(job_id, "RUNNING", "0:10", "1:00:00", "node1"), worker)


def test_nothing_queued_and_no_jobs_submits_nothing():
    assert plan(0, [], {}, {}, 0, BOUNDS) == Plan()


def test_queued_fits_get_jobs_enough_for_them_up_to_the_maximum():
    assert plan(3, [], {}, {}, 0, BOUNDS) == Plan(submit=2)  # 2 fits per job
    assert plan(100, [], {}, {}, 0, BOUNDS) == Plan(submit=4)
    assert plan(100, [running("1"), pending("2")], {"w-1": 2}, {}, 0, BOUNDS) == Plan(submit=2)


def test_pending_and_starting_jobs_count_as_what_they_will_run():
    # 4 queued: a pending job (2) and a starting one (no worker yet, 2) cover them
    jobs = [pending("1"), running("2", concurrency=None)]
    assert plan(4, jobs, {}, {}, 0, BOUNDS) == Plan()


def test_the_minimum_is_kept_even_when_idle():
    bounds = Bounds(minimum=1, maximum=4, fits_per_job=2, idle_seconds=0)
    assert plan(0, [], {}, {}, 0, bounds) == Plan(submit=1)
    assert plan(0, [running("1")], {"w-1": 0}, {"w-1": 0}, 100, bounds) == Plan()


def test_pending_jobs_go_first_newest_first_when_the_fits_are_gone():
    jobs = [running("1"), pending("2"), pending("3")]
    assert plan(0, jobs, {"w-1": 1}, {}, 0, BOUNDS) == Plan(cancel=("3", "2"))


def test_only_workers_idle_long_enough_are_retired():
    jobs = [running("1"), running("2"), running("3")]
    held = {"w-1": 0, "w-2": 1, "w-3": 0}
    since = {"w-1": 0.0, "w-3": 50.0}
    assert plan(0, jobs, held, since, 100, BOUNDS) == Plan(retire=("w-1",))  # w-3: 50 s
    assert plan(0, jobs, held, since, 200, BOUNDS) == Plan(retire=("w-1", "w-3"))


def test_a_worker_that_did_not_answer_is_never_retired():
    assert plan(0, [running("1")], {}, {"w-1": 0.0}, 1000, BOUNDS) == Plan()


def test_idle_workers_stay_while_the_queue_needs_them():
    jobs = [running("1"), running("2")]
    # 2 queued fits need one job's worth: one of the two idle workers stays
    assert plan(2, jobs, {"w-1": 0, "w-2": 0}, {"w-1": 0, "w-2": 0}, 100, BOUNDS) == Plan(
        retire=("w-1",)
    )


def test_jobs_beyond_the_maximum_are_removed_when_idle():
    bounds = Bounds(minimum=0, maximum=1, fits_per_job=2, idle_seconds=0)
    jobs = [running("1"), running("2")]
    assert plan(5, jobs, {"w-1": 2, "w-2": 0}, {"w-2": 0}, 0, bounds) == Plan(retire=("w-2",))


def test_pairing_by_the_job_id_in_the_worker_name():
    jobs = [SlurmJob("7", "RUNNING", "", "", "n"), SlurmJob("8", "PENDING", "", "", "(R)")]
    workers = [{"name": "bumps-remote-7@n"}, {"name": "bumps-remote-9@n"}, {"name": "other@n"}]
    paired = pair(jobs, workers, "bumps-remote")
    assert [(p.job.id, p.name) for p in paired] == [("7", "bumps-remote-7@n"), ("8", None)]
    assert strays(jobs, workers, "bumps-remote") == [{"name": "bumps-remote-9@n"}]


class Scripted:
    """A cluster whose Slurm jobs and workers the test sets, recording what adapt does."""

    def __init__(self):
        self.jobs: list[WorkerJob] = []
        self.queued = 0
        self.held: dict[str, int] = {}
        self.done: list[str] = []
        self.next_id = 100

    def cluster(self) -> Cluster:
        def submit():
            self.next_id += 1
            self.jobs.append(pending(str(self.next_id)))
            self.done.append(f"submit {self.next_id}")
            return str(self.next_id)

        return Cluster(
            jobs=lambda: list(self.jobs),
            queued=lambda: self.queued,
            held=lambda names: {n: self.held[n] for n in names if n in self.held},
            submit=submit,
            cancel=lambda ids: self.done.append(f"cancel {' '.join(ids)}"),
            retire=lambda name: self.done.append(f"retire {name}"),
        )


def test_the_loop_waits_out_idleness_and_retires_once():
    scripted = Scripted()
    adapter = Adapter(scripted.cluster(), BOUNDS, say=lambda line: None)
    scripted.queued = 1
    adapter.step(now=0)
    assert scripted.done == ["submit 101"]
    adapter.step(now=1)  # the pending job covers the fit
    assert scripted.done == ["submit 101"]
    scripted.jobs = [running("101")]
    scripted.queued, scripted.held = 0, {"w-101": 1}
    adapter.step(now=10)
    scripted.held = {"w-101": 0}
    adapter.step(now=20)  # idle from now on
    adapter.step(now=79)
    assert scripted.done == ["submit 101"]
    adapter.step(now=80)
    assert scripted.done == ["submit 101", "retire w-101"]
    adapter.step(now=90)  # retiring: not counted, not retired again, nothing submitted
    assert scripted.done == ["submit 101", "retire w-101"]
    adapter.step(now=90 + 121)  # still there after the grace: cancelled
    assert scripted.done[-1] == "cancel 101"


def test_a_failing_cycle_is_reported_and_the_loop_goes_on():
    import threading

    scripted = Scripted()
    cluster = scripted.cluster()
    calls = []

    def broken():
        calls.append(1)
        if len(calls) >= 2:
            stop.set()
        raise ConnectionError("Redis is restarting")

    cluster.queued = broken
    said: list[str] = []
    stop = threading.Event()
    Adapter(cluster, BOUNDS, say=said.append).run(0.01, stop)
    assert len(calls) == 2
    assert all("Redis is restarting" in line for line in said)
