"""Benchmark: sweep throughput, and scale-out from one worker process to two.

bench/run.py calls these with its private redis-server running:

- `sweep()`: N tiny lm fits submitted at once (`dispatch.submit`, as the server does) to the
  run's `bumps-remote worker` (2 pool processes); fits/s from the first submit until the
  last terminal status event; against N no-op tasks sent at once to a bare Celery worker of
  2 processes on the same Redis (`send_task` each, then `.get()` each), tasks/s. The CPU
  time that each side's processes used (worker, redis-server, this process) is read from
  /proc, so that a miss can be told apart: overhead per job, or the fit itself.
- `scale_out()`: M dream fits of about a second submitted at once to a fresh worker with
  one pool process, then to one with two, each on a queue of its own on the same Redis;
  the wall times' ratio is the speed-up.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bare_celery  # noqa: E402
import procfs  # noqa: E402
import services  # noqa: E402

SEED = 20240601
SWEEP_TARGET = 0.5  # fits/s ≥ 50% of bare Celery no-op tasks/s
SCALE_TARGET = 1.8  # speed-up from 1 to 2 worker processes
BARE_QUEUE = "bench-bare-2"
SCALE_QUEUE_PREFIX = "bench-scale."
JOB_TIMEOUT = 600.0


@dataclass(frozen=True)
class ThroughputPlan:
    sweep_fits: int
    bare_tasks: int
    scale_fits: int
    scale_steps: int  # dream steps: about one second per fit on this kind of machine
    profile_fits: int  # the sweep again with py-spy on the worker, for the cause of a miss


THROUGHPUT_FULL = ThroughputPlan(sweep_fits=500, bare_tasks=2000, scale_fits=20, scale_steps=150,
                                 profile_fits=80)  # fmt: skip
THROUGHPUT_QUICK = ThroughputPlan(sweep_fits=50, bare_tasks=300, scale_fits=4, scale_steps=30,
                                  profile_fits=20)  # fmt: skip


def wait_all(store, owner: str, ids: list[str], timeout: float = JOB_TIMEOUT) -> dict:
    """Block on the owner's event stream until every job in `ids` has a terminal status
    event; returns {job id: status}."""
    from jupyter_bumps_remote import jobs

    stream = store.keys.owner_events(owner)
    wanted, done, since = set(ids), {}, "0"
    deadline = time.monotonic() + timeout
    while len(done) < len(wanted):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{len(wanted) - len(done)} of {len(wanted)} jobs not finished")
        found = store.wait_events({stream: since}, block_ms=int(min(remaining, 1) * 1000))
        for event in found.get(stream, []):
            since = event["id"]
            data = event["data"]
            if event["type"] == "status" and data.get("status") in jobs.TERMINAL:
                if data.get("job") in wanted:
                    done[data["job"]] = data["status"]
    return done


def submit_all(store, app, owner: str, payload, fitter: str, options: dict, n: int) -> list[str]:
    from jupyter_bumps_remote import dispatch

    return [
        dispatch.submit(store, app, owner, payload, fitter, options, seed=SEED + i)["id"]
        for i in range(n)
    ]


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def bare_worker(redis_url: str) -> services.BareWorker:
    """The anchor's bare Celery worker of 2 processes (not started)."""
    return services.BareWorker(redis_url, concurrency=2, queue=BARE_QUEUE)


def sweep(plan: ThroughputPlan, redis_server, worker, store, app, bare2=None) -> dict:
    """N tiny lm fits at once on the run's worker, then N bare no-op tasks at once on
    `bare2` (`bare_worker()`, started; bench/run.py starts it with the others), or on one
    started here."""
    from jupyter_bumps_remote import transport
    from tests.support.problems import gaussian_problem

    payload = transport.encode(gaussian_problem())
    owner = f"bench-sweep-{uuid.uuid4().hex[:8]}"
    # two warm-up fits, so that both pool processes have run one
    wait_all(store, owner, submit_all(store, app, owner, payload, "lm", {}, 2))
    cpu0 = (procfs.session_cpu(worker.process.pid), procfs.cpu_seconds(redis_server.process.pid),
            _own_cpu())  # fmt: skip
    t0 = time.perf_counter()
    ids = submit_all(store, app, owner, payload, "lm", {}, plan.sweep_fits)
    submitted = time.perf_counter() - t0
    statuses = wait_all(store, owner, ids)
    elapsed = time.perf_counter() - t0
    cpu1 = (procfs.session_cpu(worker.process.pid), procfs.cpu_seconds(redis_server.process.pid),
            _own_cpu())  # fmt: skip
    failed = [s for s in statuses.values() if s != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} sweep fits did not succeed: {set(failed)}")
    fits = [store.result(owner, job_id)["elapsed"] for job_id in ids]
    records = [store.get(owner, job_id) for job_id in ids]
    running = [r["finished"] - r["started"] for r in records]
    ours = {
        "n": len(ids),
        "elapsed": elapsed,
        "submitted": submitted,
        "cpu": {
            k: b - a for k, a, b in zip(("worker", "redis", "client"), cpu0, cpu1, strict=True)
        },  # fmt: skip
        "fit": fits,
        "running": running,
    }

    bare_app = bare_celery.make_app(redis_server.url)
    try:
        with contextlib.ExitStack() as stack:
            bare = bare2 or stack.enter_context(services.started(bare_worker(redis_server.url)))
            bare.wait_ready()
            send = lambda i: bare_app.send_task(bare_celery.TASK_NAME, args=[i], queue=BARE_QUEUE)  # noqa: E731
            for result in [send(-i) for i in range(1, 21)]:  # warm-up
                result.get(timeout=30)
            bcpu0 = (procfs.session_cpu(bare.process.pid),
                     procfs.cpu_seconds(redis_server.process.pid), _own_cpu())  # fmt: skip
            t0 = time.perf_counter()
            results = [send(i) for i in range(plan.bare_tasks)]
            for i, result in enumerate(results):
                if result.get(timeout=60) != i:
                    raise RuntimeError("a bare no-op task returned something else")
            bare_elapsed = time.perf_counter() - t0
            bcpu1 = (procfs.session_cpu(bare.process.pid),
                     procfs.cpu_seconds(redis_server.process.pid), _own_cpu())  # fmt: skip
            fit_elapsed = fit_sweep(bare_app, payload, plan.sweep_fits)
            session_elapsed = fit_sweep(bare_app, payload, plan.sweep_fits, session=True)
    finally:
        bare_app.close()
    bare = {
        "n": plan.bare_tasks,
        "elapsed": bare_elapsed,
        "fit_n": plan.sweep_fits,
        "fit_elapsed": fit_elapsed,
        "session_elapsed": session_elapsed,
        "cpu": {
            k: b - a for k, a, b in zip(("worker", "redis", "client"), bcpu0, bcpu1, strict=True)
        },  # fmt: skip
    }
    return {"ours": ours, "bare": bare, "nproc": len(os.sched_getaffinity(0)),
            "profile": profile(plan, worker, store, app, owner, payload)}  # fmt: skip


def fit_sweep(bare_app, payload, n: int, session: bool = False) -> float:
    """The floor of any design that runs the fit on a worker: the same N tiny fits as bare
    Celery tasks (decode + fit in the pool process; no record, fit process or session
    file) on the same 2 processes. Seconds from the first send to the last result."""

    def send(i):
        args = [payload, "lm", SEED + i, session]
        return bare_app.send_task(bare_celery.FIT_TASK_NAME, args=args, queue=BARE_QUEUE)

    for result in [send(i) for i in range(4)]:  # both processes import bumps first
        result.get(timeout=120)
    t0 = time.perf_counter()
    for result in [send(i) for i in range(n)]:
        result.get(timeout=JOB_TIMEOUT)
    return time.perf_counter() - t0


def profile(plan, worker, store, app, owner: str, payload) -> dict:
    """A second, smaller sweep with py-spy on every process of the worker (apart from the
    measured one: sampling costs CPU). {"missing": why} without py-spy."""
    import pyspy

    if pyspy.executable() is None:
        return {"missing": "py-spy is not installed (pip install py-spy)"}
    with pyspy.record(worker.process.pid) as found:
        time.sleep(1)  # py-spy attached to the pool processes
        wait_all(store, owner, submit_all(store, app, owner, payload, "lm", {},
                                          plan.profile_fits))  # fmt: skip
    return {"fits": plan.profile_fits, **found}


def idle_memory(worker, settle: float = 3.0) -> dict:
    """Memory of a worker that said ready and has had no job: every process of its session
    (main, pool and spare fit processes), bench/procfs.py."""
    time.sleep(settle)
    memory = procfs.total_memory(procfs.session_pids(worker.process.pid))
    memory["main"] = memory["processes"][str(worker.process.pid)]
    return memory


def scale_out(plan: ThroughputPlan, redis_url: str) -> dict:
    """The same M dream fits at once on a fresh worker of 1 process, then of 2."""
    import redis

    from jupyter_bumps_remote import transport
    from jupyter_bumps_remote.store import JobStore
    from jupyter_bumps_remote.worker import make_app
    from jupyter_bumps_remote.worker.settings import WorkerSettings
    from tests.support.problems import gaussian_problem

    settings = WorkerSettings.from_env({}, redis_url=redis_url)
    store = JobStore(redis.Redis.from_url(redis_url), **settings.store_settings())
    payload = transport.encode(gaussian_problem())
    options = {"steps": plan.scale_steps}
    out = {}
    # Both workers start at once (each on a queue of its own), then each runs the fits
    # while the other one idles; the 2-process one is measured idle first, for footprint.
    workers = {
        n: services.Worker(redis_url, concurrency=n,
                           env={"BUMPS_REMOTE_QUEUE_PREFIX": f"{SCALE_QUEUE_PREFIX}{n}."})
        for n in (1, 2)
    }  # fmt: skip
    with contextlib.ExitStack() as stack:
        _start_together(stack, list(workers.values()))
        idle = idle_memory(workers[2])
        for processes in workers:
            queue_prefix = f"{SCALE_QUEUE_PREFIX}{processes}."
            app = make_app(replace(settings, queue_prefix=queue_prefix))
            owner = f"bench-scale{processes}-{uuid.uuid4().hex[:8]}"
            warm = submit_all(store, app, owner, payload, "dream", {"steps": 5}, processes)
            wait_all(store, owner, warm)
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            ids = submit_all(store, app, owner, payload, "dream", options, plan.scale_fits)
            statuses = wait_all(store, owner, ids)
            elapsed = time.perf_counter() - t0
            app.close()
            if any(s != "succeeded" for s in statuses.values()):
                raise RuntimeError(f"scale-out fits did not all succeed: {set(statuses.values())}")
            fits = [store.result(owner, job_id)["elapsed"] for job_id in ids]
            out[str(processes)] = {"elapsed": elapsed, "fit": fits,
                                   "loadavg": [load0, os.getloadavg()[0]]}  # fmt: skip
    out["2"]["idle"] = idle
    store.redis.close()
    out["plain"] = plain_scale_out(plan, payload)
    return out


def plain_scale_out(plan: ThroughputPlan, payload) -> dict:
    """The floor of the scale-out: the same M fits run by plain forks of this process, all
    M in one, then M/2 in each of two at once: what 2 CPUs give this work with no worker,
    no Redis, no Celery."""
    from jupyter_bumps_remote import transport
    from jupyter_bumps_remote.fitting import local_fit

    def run_in_forks(counts: list[int]) -> float:
        t0 = time.perf_counter()
        pids = []
        for count in counts:
            pid = os.fork()
            if pid == 0:
                try:
                    for i in range(count):
                        local_fit(transport.decode(payload), "dream", SEED + i,
                                  steps=plan.scale_steps)  # fmt: skip
                finally:
                    os._exit(0)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        return time.perf_counter() - t0

    run_in_forks([1])  # dream's code warm in this process's forks
    half = plan.scale_fits // 2
    return {"one": run_in_forks([plan.scale_fits]), "two": run_in_forks([half, half])}


def _start_together(stack: contextlib.ExitStack, workers: list) -> None:
    """Start workers at once (each waits for its ' ready.' line in a thread); every one
    that was started is stopped when `stack` closes, also if another failed (its log
    then kept)."""
    errors = []

    def start(worker):
        try:
            worker.start()
        except Exception as e:  # noqa: BLE001 - raised below, in this thread
            errors.append(e)

    threads = [threading.Thread(target=start, args=(w,)) for w in workers]
    for worker, thread in zip(workers, threads, strict=True):
        stack.push(lambda kind, *_, worker=worker: _stop_worker(worker, failed=kind is not None))
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _stop_worker(worker, failed: bool) -> None:
    """Stop it; its log goes unless something failed."""
    worker.stop()
    if failed:
        print(f"log kept: {worker.log}", file=sys.stderr)
    else:
        worker.log.unlink(missing_ok=True)


# -- report -----------------------------------------------------------------------------------


def _p50(values) -> float:
    import numpy as np

    return float(np.percentile(values, 50))


def sweep_figures(raw: dict) -> dict:
    ours, bare = raw["ours"], raw["bare"]
    per = {k: v / ours["n"] for k, v in ours["cpu"].items()}
    bare_per = {k: v / bare["n"] for k, v in bare["cpu"].items()}
    cpu = sum(per.values())
    return {
        "n": ours["n"],
        "fits_per_s": ours["n"] / ours["elapsed"],
        "elapsed": ours["elapsed"],
        "submitted": ours["submitted"],
        "bare_n": bare["n"],
        "bare_per_s": bare["n"] / bare["elapsed"],
        "bare_fits_per_s": bare["fit_n"] / bare["fit_elapsed"] if "fit_n" in bare else None,
        "bare_session_fits_per_s": (
            bare["fit_n"] / bare["session_elapsed"] if "session_elapsed" in bare else None
        ),  # fmt: skip
        "cpu_per_fit": per,
        "cpu_per_task": bare_per,
        "fit": _p50(ours["fit"]),
        "running": _p50(ours["running"]),
        "bound": raw["nproc"] / cpu if cpu else float("inf"),
        "nproc": raw["nproc"],
        "profile": raw.get("profile") or {},
    }


def scale_figures(raw: dict, plan: ThroughputPlan) -> dict:
    one, two = raw["1"], raw["2"]
    return {
        "n": plan.scale_fits,
        "steps": plan.scale_steps,
        "one": one["elapsed"],
        "two": two["elapsed"],
        "speedup": one["elapsed"] / two["elapsed"],
        "fit_one": _p50(one["fit"]),
        "fit_two": _p50(two["fit"]),
        "loadavg": [one["loadavg"][0], two["loadavg"][1]],
        "plain": raw["plain"]["one"] / raw["plain"]["two"] if "plain" in raw else None,
    }


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(sweep: dict, scale: dict) -> list[tuple]:
    """(measure, N, figure, anchor, target and verdict) rows of the results table."""
    s, c = sweep, scale
    ratio = s["fits_per_s"] / s["bare_per_s"]
    return [
        ("**(3) sweep**: tiny lm fits submitted at once, worker of 2 processes", s["n"],
         f"{s['fits_per_s']:.1f} fits/s", f"bare Celery no-op, 2 processes: "
         f"{s['bare_per_s']:.0f} tasks/s ({s['bare_n']} tasks)",
         f"≥ 50% of the anchor: {ratio:.0%}, {_met(ratio >= SWEEP_TARGET)}"),
        *([("&nbsp;&nbsp;floor: the same fits as bare Celery tasks (decode + fit in the pool "
            "process; no record, fit process or session file), 2 processes", s["n"],
            f"{s['bare_fits_per_s']:.1f} fits/s",
            f"{s['bare_fits_per_s'] / s['bare_per_s']:.0%} of the no-op anchor",
            f"ours: {s['fits_per_s'] / s['bare_fits_per_s']:.0%} of this floor")]
          if s.get("bare_fits_per_s") else []),
        *([("&nbsp;&nbsp;the same bare tasks writing the bumps session file too (each job "
            "must have one: ARCHITECTURE.md)", s["n"],
            f"{s['bare_session_fits_per_s']:.1f} fits/s",
            f"{s['bare_session_fits_per_s'] / s['bare_per_s']:.0%} of the no-op anchor",
            f"ours: {s['fits_per_s'] / s['bare_session_fits_per_s']:.0%} of this floor")]
          if s.get("bare_session_fits_per_s") else []),
        ("&nbsp;&nbsp;CPU per fit: worker processes / redis-server / submitting process", "",
         " / ".join(f"{v * 1000:.1f} ms" for v in s["cpu_per_fit"].values()),
         "per no-op task: " + " / ".join(f"{v * 1000:.2f} ms" for v in
                                         s["cpu_per_task"].values()),
         f"{s['nproc']} CPUs / CPU per fit = {s['bound']:.0f} fits/s at most"),
        (f"**(4) scale-out**: {c['n']} dream fits (steps={c['steps']}) at once, 1 worker "
         "process → 2", c["n"], f"{c['one']:.1f} s → {c['two']:.1f} s",
         f"one fit (worker clock, p50): {c['fit_one']:.2f} s → {c['fit_two']:.2f} s",
         f"speed-up ≥ {SCALE_TARGET}: {c['speedup']:.2f}×, {_met(c['speedup'] >= SCALE_TARGET)}"),
    ]  # fmt: skip


def _busy(sweep: dict) -> float:
    """Seconds a pool process was taken per fit: 2 processes × elapsed / fits."""
    return 2 * sweep["elapsed"] / sweep["n"]


def _profile_note(found: dict) -> str:
    if "missing" in found:
        return f"- (3) Profile of the worker during a sweep: not taken, {found['missing']}."
    if not found.get("samples"):
        return "- (3) Profile of the worker during a sweep: py-spy recorded nothing."
    ours = [f"`{name}` {share:.0%}" for name, share in found["ours"]
            if not name.startswith(("cli.py", "worker/tasks.py"))]  # fmt: skip
    leaves = [f"{name} {share:.0%}" for name, share in found["leaves"][:6]]
    return (
        f"- (3) py-spy on every process of the worker (main, pool, fit processes) during a "
        f"second sweep of {found['fits']} fits ({found['samples']:,} samples of threads "
        f"py-spy judged busy: a wait in a socket read can count): share of the samples in "
        f"each function of ours, callees included: {', '.join(ours)}. Innermost frames by package: "
        f"{', '.join(leaves)}. (`pyspy.py` sums py-spy's collapsed stacks.)"
    )


def notes(sweep: dict, scale: dict) -> list[str]:
    s, c = sweep, scale
    per = s["cpu_per_fit"]
    total = sum(per.values())
    ratio = s["fits_per_s"] / s["bare_per_s"]
    lines = [
        f"- (3) {s['n']} tiny lm fits went through in {s['elapsed']:.1f} s "
        f"({s['fits_per_s']:.1f}/s; submitting them all took {s['submitted']:.1f} s of it); "
        f"the bare no-op tasks ran at {s['bare_per_s']:.0f}/s: {ratio:.0%} "
        f"({_met(ratio >= SWEEP_TARGET)}). Measured cause: each fit cost "
        f"{per['worker'] * 1000:.1f} ms of CPU in the worker's processes (main, pool, fit "
        f"process; the fit itself takes {s['fit'] * 1000:.1f} ms of wall time on the worker's "
        f"clock, p50, and running → finished {s['running'] * 1000:.1f} ms), "
        f"{per['redis'] * 1000:.1f} ms in redis-server and {per['client'] * 1000:.1f} ms in "
        f"the submitting process: {total * 1000:.1f} ms in all, so {s['nproc']} CPUs cannot "
        f"pass more than {s['bound']:.0f} fits/s whatever the queueing; a no-op task costs "
        f"{sum(s['cpu_per_task'].values()) * 1000:.2f} ms in all. The anchor does no work, so "
        f"the target also bounds the fit itself: at 50% of {s['bare_per_s']:.0f}/s, a fit and "
        f"its bookkeeping would have to fit in "
        f"{s['nproc'] / (SWEEP_TARGET * s['bare_per_s']) * 1000:.1f} ms of CPU. "
        f"Wall time: each of the 2 pool processes was taken {_busy(s) * 1000:.0f} ms per fit "
        f"(2 × {s['elapsed']:.1f} s / {s['n']}), against {per['worker'] * 1000:.0f} ms of the "
        f"worker's CPU: "
        + (
            "the sweep is not bound by the worker's CPU; a pool process spends most of each "
            "job not computing (waiting on Redis, on its fit process, or for a CPU that the "
            "machine's other load holds). The profile below says where its samples are."
            if _busy(s) > 1.5 * per["worker"]
            else "the sweep is bound by the CPU the worker spends per fit."
        ),
        *(
            [
                f"- (3) The floor: the same {s['n']} fits as bare Celery tasks that decode the "
                f"payload and fit in the pool process, nothing else (no job record, no events, no "
                f"fit process of their own, no session file), on the same 2 processes: "
                f"{s['bare_fits_per_s']:.1f} fits/s = {s['bare_fits_per_s'] / s['bare_per_s']:.0%} "
                f"of the no-op anchor. "
                + (
                    "Even this floor is below 50%: the fit's own work (decoding the pickled "
                    "problem "
                    "and fitting it) costs more than a no-op task's whole round trip, so no design "
                    "that runs the fit on a worker meets the target; what a design can change is "
                    f"the distance to the floor, here {s['fits_per_s'] / s['bare_fits_per_s']:.0%} "
                    "of it."
                    if s["bare_fits_per_s"] < SWEEP_TARGET * s["bare_per_s"]
                    else "The floor is above 50%: the target is reachable by a leaner design."
                )
                + (
                    f" Writing the bumps session file as well, which every job must have "
                    f"(ARCHITECTURE.md), the same bare tasks pass "
                    f"{s['bare_session_fits_per_s']:.1f} fits/s; ours are "
                    f"{s['fits_per_s'] / s['bare_session_fits_per_s']:.0%} of that: the rest is "
                    f"what the project adds per job (a fit process of its own, the job record, "
                    f"its events and lease)."
                    if s.get("bare_session_fits_per_s")
                    else ""
                )
            ]
            if s.get("bare_fits_per_s")
            else []
        ),
        _profile_note(s["profile"]),
        f"- (4) {c['n']} dream fits took {c['one']:.1f} s on one worker process and "
        f"{c['two']:.1f} s on two: {c['speedup']:.2f}× ({_met(c['speedup'] >= SCALE_TARGET)}). "
        f"A fit took {c['fit_one']:.2f} s alone and {c['fit_two']:.2f} s two at a time (p50, "
        f"worker clock): "
        + (
            "with two at a time each fit is slower, i.e. the two processes did not get a CPU "
            "each (the machine's other load: load average "
            f"{c['loadavg'][0]:.1f} → {c['loadavg'][1]:.1f} during the runs)."
            if c["fit_two"] > 1.1 * c["fit_one"]
            else "the fits did not slow each other down."
        )
        + (
            f" The same fits in plain forks of the bench process (no worker, Redis or "
            f"Celery), all in one process and then half in each of two at once: "
            f"{c['plain']:.2f}× — "
            + (
                "what 2 CPUs of this machine give this work at all."
                if c["plain"] < SCALE_TARGET
                else "the machine allows the target."
            )
            if c.get("plain")
            else ""
        ),
    ]
    return lines
