"""Measure: sweeps of tiny fits through the worker against ipyparallel; their results'
requests.

The [perf] issue's first target: a sweep of 200 and one of 2,000 tiny fits with
`submit_many(...).results()`, from the submit to every result in the kernel, no slower than
ipyparallel's `load_balanced_view().map_sync` on as many engines as the worker has
processes (2), in the same run. Beside them: the CPU each process spent per fit (from
/proc), which says where a miss comes from, and the floors any worker design pays (the same
fits as bare Celery tasks, in the pool process and in a kept child). Its fifth: the results of a
finished sweep (`group.results()`, `group.table()`) come back in one request, not one per
member, counted on the kernel client's HTTP session.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

import services
from bare_celery import FIT, FIT_IN_CHILD, make_app
from report import Row, alternate, ms, p, spread

TITLE = "sweep"
METHOD = (
    "gaussian `lm` fits of a few ms each, a sweep of 200 (20 with `--quick`) three times and "
    "one of 2,000 (100) once, each alternating with the same problems through ipyparallel "
    "(`ipcontroller` and 2 engines, cloudpickle, up during the whole measure): "
    '`submit_many(problems, "lm", seed=S).results()` from the call to its return, against '
    '`load_balanced_view().map_sync(local_fit, problems, ["lm"] * n, [S] * n)`; the problems '
    "are built before the clock starts, encoding them is inside it on both sides. The CPU "
    "time of the worker's processes, redis-server, the `jupyter server` and this process "
    "(ipyparallel: its controller, its engines and this process) from /proc, per fit (the "
    "worker's by role too: its main process, its pool processes, its fit launcher with the "
    "fit processes it forked, alive or reaped), and "
    "how many CPUs that kept busy, beside the CPUs the whole machine kept busy (/proc/stat: "
    "near all of them, the sweep waited for CPUs, its own or others'); a member's run from "
    "its record (`started` → `finished`) and its fit's own clock. In "
    "the same run: the same 200 fits one after the other here; sent at once to a bare "
    "Celery worker of 2 processes as tasks that decode and fit, in the pool process, then in "
    "a child each pool process forks once and keeps (the problem over a pipe, the chisq "
    "back), p50 of as many rounds as the sweeps. Requests: on the finished sweep of 200 (and "
    "of 2,000 once), `.results()` and `.table()` of a fresh `JobGroup` whose records say "
    "queued (so that it must ask the server), counted by a response hook on the kernel client's "
    "`requests.Session`; timed 3 times interleaved with what each member alone costs (its "
    "long poll, then `GET result`). Last, a sweep of as many long DREAM fits cancelled "
    "with `group.cancel()`, then another with each member cancelled alone (its status "
    "asked, then its cancel), requests counted the same way."
)


@dataclass
class Sweep:
    seconds: float
    cpu: dict[str, float]  # CPU seconds per fit, by process
    run: float = 0.0  # p50 of a member's run on the worker (started → finished), s
    fit: float = 0.0  # p50 of the fit itself within it, s
    machine: float = 0.0  # CPUs the whole machine kept busy meanwhile, ours and others'
    roles: dict[str, float] = field(default_factory=dict)  # the worker's CPU per fit, by role


def measure(base, quick: bool) -> list[Row]:
    from jupyter_bumps_remote.kernel.group import MAX_IDS
    from jupyter_bumps_remote.shared import transport
    from jupyter_bumps_remote.shared.fitting import local_fit
    from tests.support.problems import gaussian_problem

    small, large = (20, 100) if quick else (200, 2000)
    rounds = 1 if quick else 3
    seed = services.SEED

    def problems(count: int) -> list:
        return [gaussian_problem() for _ in range(count)]

    base.remote.submit_many(problems(2), "lm", seed=seed).results(120)  # both processes warm
    ours_pids = {
        "worker": base.worker.process.pid,
        "redis": base.redis.process.pid,
        "server": base.server.process.pid,
    }
    groups = {}

    def cpu(pids: dict[str, int]) -> dict[str, float]:
        used = {name: services.session_cpu(pid) for name, pid in pids.items()}
        return {**used, "bench": sum(os.times()[:2])}

    def timed_sweep(run, pids: dict[str, int], count: int) -> Sweep:
        before, busy, t0 = cpu(pids), services.machine_busy_seconds(), time.perf_counter()
        run()
        seconds, after = time.perf_counter() - t0, cpu(pids)
        machine = (services.machine_busy_seconds() - busy) / seconds
        return Sweep(seconds, {k: (after[k] - before[k]) / count for k in before}, machine=machine)

    def ours(count: int) -> Sweep:
        batch = problems(count)
        results = []

        def run() -> None:
            group = base.remote.submit_many(batch, "lm", seed=seed)
            results[:] = group.results(1800)
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                raise RuntimeError(f"{len(failed)} sweep fits failed: {failed[0]}")
            groups[count] = group

        worker = base.worker.process.pid
        before = services.worker_cpu_by_role(worker)
        sweep = timed_sweep(run, ours_pids, count)
        after = services.worker_cpu_by_role(worker)
        sweep.roles = {role: (after[role] - before[role]) / count for role in after}
        sweep.run = p([job.record["finished"] - job.record["started"] for job in groups[count]])
        sweep.fit = p([result.to_dict()["elapsed"] for result in results])
        return sweep

    with services.ipyparallel(engines=2) as cluster:
        view = cluster.client.load_balanced_view()
        ipp_pids = {
            ("controller" if i == 0 else f"engine {i}"): process.pid
            for i, process in enumerate(cluster.processes)
        }
        view.map_sync(local_fit, problems(4), ["lm"] * 4, [seed] * 4)  # both engines warm

        def ipp(count: int) -> Sweep:
            batch = problems(count)
            return timed_sweep(
                lambda: view.map_sync(local_fit, batch, ["lm"] * count, [seed] * count),
                ipp_pids,
                count,
            )

        sweeps = {
            small: alternate(lambda: ours(small), lambda: ipp(small), n=rounds, warmup=0),
            large: alternate(lambda: ours(large), lambda: ipp(large), n=1, warmup=0),
        }

    batch = problems(small)
    t0 = time.perf_counter()
    for problem in batch:
        local_fit(problem, "lm", seed)
    serial = small / (time.perf_counter() - t0)
    payload = transport.encode(gaussian_problem())
    with services.started(services.BareWorker(base.redis.url, "bench-bare-2", concurrency=2)):
        app = make_app(base.redis.url)

        def all_at_once(task: str, count: int = small) -> float:
            t0 = time.perf_counter()
            args = [payload, "lm", seed]
            sent = [app.send_task(task, args=args, queue="bench-bare-2") for _ in range(count)]
            for result in sent:
                result.get(timeout=600)
            return count / (time.perf_counter() - t0)

        all_at_once(FIT, 4)  # both processes import bumps first
        all_at_once(FIT_IN_CHILD, 8)  # and fork their children
        bare_fit = p([all_at_once(FIT) for _ in range(rounds)])
        bare_child = p([all_at_once(FIT_IN_CHILD) for _ in range(rounds)])
        app.close()

    cpus = os.cpu_count() or 1
    rows = []
    for count, (mine, theirs) in sweeps.items():
        seconds, ipp_seconds = p([s.seconds for s in mine]), p([s.seconds for s in theirs])
        per_fit = {k: p([s.cpu[k] for s in mine]) for k in mine[0].cpu}
        ipp_fit = sum(p([s.cpu[k] for s in theirs]) for k in theirs[0].cpu)
        roles = {k: p([s.roles[k] for s in mine]) for k in mine[0].roles}
        within = {  # the worker's share, by role
            "worker": f" (main process {ms(roles['main'])}, pool processes "
            f"{ms(roles['pool'])}, fit processes {ms(roles['fit'])})"
        }
        share = ", ".join(f"{k} {ms(v)}{within.get(k, '')}" for k, v in per_fit.items())
        runs = "" if len(mine) == 1 else f" (p50 of {len(mine)}, interleaved)"
        rows += [
            Row(
                f"#17.1 sweep of {count:,} tiny lm fits, `submit_many(...).results()`, worker "
                f"of 2 processes: submit to every result{runs}",
                f"{seconds:.2f} s = {count / seconds:.0f} fits/s: {seconds / ipp_seconds:.2f}× "
                f"ipyparallel's {ipp_seconds:.2f} s",
                "no slower than ipyparallel `map_sync`, 2 engines",
                seconds <= ipp_seconds,
                f"CPU per fit: {share} = {ms(sum(per_fit.values()))}, against ipyparallel's "
                f"{ms(ipp_fit)} (controller, engines, this process): {cpus} CPUs pass "
                f"{cpus / sum(per_fit.values()):.0f} fits/s at most; busy meanwhile: "
                f"{sum(per_fit.values()) * count / seconds:.2f} CPUs ours of the machine's "
                f"{p([s.machine for s in mine]):.2f} (ipyparallel "
                f"{ipp_fit * count / ipp_seconds:.2f} of "
                f"{p([s.machine for s in theirs]):.2f}); a member's run on the worker "
                f"(started → finished) p50 {ms(p([s.run for s in mine]))}, of which the fit "
                f"{ms(p([s.fit for s in mine]))}",
            ),
            Row(
                "&nbsp;&nbsp;ipyparallel `load_balanced_view().map_sync`, 2 engines",
                f"{ipp_seconds:.2f} s = {count / ipp_seconds:.0f} fits/s",
            ),
        ]
    rows += [
        Row(f"&nbsp;&nbsp;the same {small} fits one after the other here", f"{serial:.0f} fits/s"),
        Row(
            "&nbsp;&nbsp;floor: the same fits as bare Celery tasks, 2 processes (decode + fit), "
            "in the pool process; in a child each pool process keeps (the model's code apart "
            "from the broker's credentials, as the fit processes keep it)",
            f"{bare_fit:.0f} fits/s; in a kept child {bare_child:.0f} fits/s",
        ),
    ]
    rows += requests_rows(groups[small], groups[large], MAX_IDS, quick)
    return rows + cancel_rows(base, small)


def cancel_rows(base, count: int) -> list[Row]:
    """A sweep of `count` long DREAM fits (2 running, the rest queued) cancelled with
    `group.cancel()`, in requests and seconds, against each member cancelled alone (its
    status asked, then POST jobs/{id}/cancel: what `group.cancel()` did before POST
    jobs/cancel); every member ends cancelled before the next."""
    from jupyter_bumps_remote.shared import jobs
    from tests.support.problems import gaussian_problem
    from tests.support.running_fits import LONG_DREAM

    def cancelled(how: str) -> tuple[float, int]:
        group = base.remote.submit_many(
            [gaussian_problem() for _ in range(count)], "dream", seed=services.SEED, **LONG_DREAM
        )
        with counted(group[0]._client.session) as sent:
            t0 = time.perf_counter()
            if how == "group":
                group.cancel()
            else:
                for job in group:
                    if job.status in jobs.ACTIVE:
                        job.cancel()
            seconds = time.perf_counter() - t0
        statuses = group.wait(120).statuses()  # the running fits stopped too
        assert statuses == {jobs.CANCELLED: count}, statuses
        return seconds, sent[0]

    (bulk, bulk_requests), (each, each_requests) = cancelled("group"), cancelled("each")
    return [
        Row(
            f"a sweep of {count} long DREAM fits (2 running, the rest queued): `group.cancel()`",
            f"{bulk_requests} request{'s' if bulk_requests != 1 else ''}, {ms(bulk)}",
            "",
            None,
            f"each member alone, as before: {each_requests} requests, {ms(each)}",
        )
    ]


def requests_rows(group, large_group, per_request: int, quick: bool) -> list[Row]:
    """The [perf] issue's fifth target: `.results()` and `.table()` of a finished sweep, in
    requests counted on the client's session, and timed against each member alone."""
    n = len(group)
    expected = -(-n // per_request)
    bulk, each, table = results_alone(group, rounds=1 if quick else 3)
    _, large_bulk = count_requests(large_group, "results")
    _, large_table = count_requests(large_group, "table")
    large_expected = -(-len(large_group) // per_request)
    met = bulk[1] == table[1] == expected and large_bulk == large_table == large_expected
    return [
        Row(
            f"#17.5 a finished sweep's `.results()` and `.table()` (fresh `JobGroup` of "
            f"{n}, records as submitted): HTTP requests",
            f"{bulk[1]} and {table[1]}; of {len(large_group):,}: {large_bulk} and {large_table}",
            f"one request, not one per member (a request names ≤ {per_request:,} jobs)",
            met,
            f"each member alone, as before: {each[1]} requests (a long poll, then `GET result`)",
        ),
        Row(f"&nbsp;&nbsp;`.results()` of the {n}", spread(bulk[0])),
        Row(f"&nbsp;&nbsp;`.table()` of the {n}", spread(table[0])),
        Row(f"&nbsp;&nbsp;each member alone, the {n}", spread(each[0])),
    ]


def _fresh_group(group):
    """The same jobs as new handles whose records say queued: what they know must come from
    the server."""
    from jupyter_bumps_remote.kernel.group import JobGroup
    from jupyter_bumps_remote.kernel.job import RemoteJob

    client = group[0]._client
    return JobGroup(
        "fresh",
        group.tag,
        [RemoteJob(client, {**job.record, "status": "queued"}) for job in group],
    )


def count_requests(group, how: str) -> tuple[float, int]:
    """(seconds, HTTP responses the client's session received) of `how` ("results",
    "table" or "each": every member's wait then result) on a fresh copy of `group`."""
    from jupyter_bumps_remote.shared import jobs

    fresh = _fresh_group(group)
    with counted(group[0]._client.session) as sent:
        t0 = time.perf_counter()
        if how == "results":
            out = fresh.results(600)
        elif how == "table":
            out = fresh.table(600)
            assert all(row["status"] == jobs.SUCCEEDED and "chisq" in row for row in out), out[:3]
        else:
            for job in fresh:
                job.wait(600)
            out = [job.result() for job in fresh]
        seconds = time.perf_counter() - t0
    assert len(out) == len(group) and not any(isinstance(r, Exception) for r in out)
    return seconds, sent[0]


@contextlib.contextmanager
def counted(session):
    """[the HTTP responses `session` received] while the block runs (a response hook)."""
    sent = [0]

    def hook(response, **_):
        sent[0] += 1

    session.hooks["response"].append(hook)
    try:
        yield sent
    finally:
        session.hooks["response"].remove(hook)


def results_alone(group, rounds: int) -> tuple[tuple[list, int], ...]:
    """`.results()`, `.table()` and each member alone on `group`, interleaved `rounds`
    times: ([seconds], requests) of each."""
    counts: dict[str, int] = {}

    def run(how: str):
        def once() -> float:
            seconds, counts[how] = count_requests(group, how)
            return seconds

        return once

    bulk, each, table = alternate(run("results"), run("each"), run("table"), n=rounds, warmup=1)
    return (bulk, counts["results"]), (each, counts["each"]), (table, counts["table"])
