"""Measure: a sweep of tiny fits through the worker, beside what else could run it.

`submit_many(problems, "lm").results()` through the run's server and its worker of 2
processes, against, in the same run: no-op tasks sent at once to a bare Celery worker of 2
processes (the [perf] anchor), the same fits as bare Celery tasks (decode + fit, then also
writing the session file: the floors of any design that fits on a worker), the same fits
one after the other here, and ipyparallel's `map_sync` on 2 engines. The CPU each process
spent (from /proc) says where a miss comes from.
"""

from __future__ import annotations

import os
import time

import services
from bare_celery import FIT, NOOP, make_app
from report import Row, alternate, ms, spread

TITLE = "sweep"
METHOD = (
    '500 gaussian `lm` fits (50 with `--quick`): `submit_many(problems, "lm", seed=S)` then '
    "`.results()`, from the first submit to the last result; the CPU time of the worker's "
    "processes, redis-server, the `jupyter server` and this process from /proc. In the same "
    "run: 2,000 no-op tasks (300) sent at once to a bare Celery worker of 2 processes; the "
    "same fits as bare tasks on it (decode + fit; then also writing bumps' session file); "
    "the same fits one after the other here; ipyparallel `load_balanced_view().map_sync` "
    "on 2 engines. Then `.results()` alone on the finished sweep (fresh handles, interleaved "
    "5 times with the path before it: each member's long poll and result request)."
)
SWEEP_TARGET = 0.5  # fits/s ≥ 50% of bare Celery no-op tasks/s


def measure(base, quick: bool) -> list[Row]:
    from jupyter_bumps_remote.kernel.group import MAX_IDS
    from jupyter_bumps_remote.shared import transport
    from jupyter_bumps_remote.shared.fitting import local_fit
    from tests.support.problems import gaussian_problem

    n, n_noop = (50, 300) if quick else (500, 2000)
    seed = services.SEED

    def problems(count: int = n) -> list:
        return [gaussian_problem() for _ in range(count)]

    base.remote.submit_many(problems(2), "lm", seed=seed).results(120)  # both processes warm
    pids = {
        "worker": base.worker.process.pid,
        "redis": base.redis.process.pid,
        "server": base.server.process.pid,
    }

    def cpu() -> dict:
        used = {
            "worker": services.session_cpu(pids["worker"]),
            "redis": services.cpu_seconds(pids["redis"]),
            "server": services.cpu_seconds(pids["server"]),
        }
        return {**used, "bench": sum(os.times()[:2])}

    batch = problems()
    before, t0 = cpu(), time.perf_counter()
    group = base.remote.submit_many(batch, "lm", seed=seed)
    results = group.results(1800)
    elapsed, after = time.perf_counter() - t0, cpu()
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise RuntimeError(f"{len(failed)} sweep fits failed: {failed[0]}")
    per_fit = {k: (after[k] - before[k]) / n for k in before}

    def rate(run, count: int = n) -> float:
        t0 = time.perf_counter()
        run()
        return count / (time.perf_counter() - t0)

    batch = problems()
    serial = rate(lambda: [local_fit(problem, "lm", seed) for problem in batch])
    payload = transport.encode(gaussian_problem())
    with services.started(services.BareWorker(base.redis.url, "bench-bare-2", concurrency=2)):
        app = make_app(base.redis.url)

        def all_at_once(name: str, args: list, count: int) -> None:
            sent = [app.send_task(name, args=args, queue="bench-bare-2") for _ in range(count)]
            for result in sent:
                result.get(timeout=600)

        all_at_once(FIT, [payload, "lm", seed], 4)  # both processes import bumps first
        noop = rate(lambda: all_at_once(NOOP, [1], n_noop), n_noop)
        bare_fit = rate(lambda: all_at_once(FIT, [payload, "lm", seed], n))
        bare_session = rate(lambda: all_at_once(FIT, [payload, "lm", seed, True], n))
        app.close()
    with services.ipyparallel(engines=2) as cluster:
        view = cluster.client.load_balanced_view()
        view.map_sync(local_fit, problems(4), ["lm"] * 4, [seed] * 4)
        batch = problems()
        ipp = rate(lambda: view.map_sync(local_fit, batch, ["lm"] * n, [seed] * n))
    ours = n / elapsed
    share = ", ".join(f"{k} {ms(v)}" for k, v in per_fit.items())
    at_most = os.cpu_count() / sum(per_fit.values())
    bulk, per_member = results_alone(group)
    return [
        Row(
            f"sweep of {n} tiny lm fits, `submit_many(...).results()`, worker of 2 processes",
            f"{ours:.1f} fits/s = {ours / noop:.0%} of {noop:.0f} no-op tasks/s",
            f"≥ {SWEEP_TARGET:.0%} of bare Celery no-op tasks/s",
            ours >= SWEEP_TARGET * noop,
            f"floors: the same fits as bare tasks {bare_fit:.0f}/s ({bare_fit / noop:.0%}), "
            f"also writing the session file {bare_session:.0f}/s; CPU per fit: {share}: "
            f"{os.cpu_count()} CPUs pass {at_most:.0f} fits/s at most",
        ),
        Row("&nbsp;&nbsp;the same fits one after the other here", f"{serial:.1f} fits/s"),
        Row("&nbsp;&nbsp;ipyparallel `map_sync`, 2 engines", f"{ipp:.1f} fits/s"),
        Row(
            f"`.results()` alone of the {n} finished fits (a fresh group: records as submitted)",
            f"{spread(bulk[0])} in {bulk[1]} request(s)",
            "one request, not one per member",
            bulk[1] <= -(-n // MAX_IDS),
            f"one member after another, as before (a long poll, then GET result): "
            f"{spread(per_member[0])} in {per_member[1]} requests",
        ),
    ]


def results_alone(group, rounds: int = 5) -> tuple[tuple[list, int], tuple[list, int]]:
    """Seconds `.results()` takes on `group`'s finished jobs, with fresh handles each time
    (their records as submitted, so both ask the server), and the requests it sends: one
    POST jobs/results per 1000 members, against what it did before, each member in turn
    (job.wait(), then job.result()). Interleaved."""
    from jupyter_bumps_remote.kernel.group import JobGroup
    from jupyter_bumps_remote.kernel.job import RemoteJob

    client = group[0]._client
    submitted = [{**job.record, "status": "queued"} for job in group]
    sent: list[int] = [0]
    client.session.hooks["response"].append(lambda r, **_: sent.__setitem__(0, sent[0] + 1))

    def fresh() -> list[RemoteJob]:
        return [RemoteJob(client, dict(record)) for record in submitted]

    def one_by_one() -> list:
        members, out = fresh(), []
        for job in members:
            job.wait(600)
        for job in members:
            try:
                out.append(job.result())
            except Exception as e:  # noqa: BLE001 - as JobGroup.results did
                out.append(e)
        return out

    def timed_count(call) -> tuple[float, int]:
        sent[0] = 0
        t0 = time.perf_counter()
        out = call()
        seconds = time.perf_counter() - t0
        assert len(out) == len(submitted) and not any(isinstance(r, Exception) for r in out)
        return seconds, sent[0]

    counts = {}

    def bulk() -> float:
        seconds, counts["bulk"] = timed_count(
            lambda: JobGroup("b", group.tag, fresh()).results(600)
        )
        return seconds

    def each() -> float:
        seconds, counts["each"] = timed_count(one_by_one)
        return seconds

    try:
        new, old = alternate(bulk, each, n=rounds, warmup=1)
    finally:
        client.session.hooks["response"].pop()
    return (new, counts["bulk"]), (old, counts["each"])
