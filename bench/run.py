"""Benchmark: what a remote fit costs over the same fit in the kernel.

In one run on this machine: a private redis-server, a real `bumps-remote worker`
(concurrency 2) and bare Celery workers on the same Redis (bench/services.py), then

1. a tiny lm fit (3 parameters, 50 points) remote vs local, p50/p95;
2. a DREAM fit of a few seconds, remote wall / local wall;
3. a bare Celery `send_task(...).get()` round trip with a no-op task, p50/p95;
3b. end to end (bench/end_to_end.py): `submit(problem, "lm").result()` through a real
   `jupyter server`, and `%bumps_remote problem --fitter lm --wait` in a real kernel;
4. the server extension on a real `jupyter server` (bench/server.py): POST latency, event
   latency worker -> WebSocket client, IOLoop lag with many WebSocket subscribers;
5. the ipyparallel anchor (bench/ipyparallel_anchor.py), sweep throughput and scale-out
   (bench/throughput.py), result fetch and a 10,000-job history (bench/history.py), idle
   footprint (bench/footprint.py): the [perf] issue's measures 1-8, each with its target.

Prints a markdown table; `--write` (the default without `--quick`) puts it in
docs/benchmarks.md with the machine it ran on. Raw figures go to bench/results/latest.json.

    ./run bench            # full, about ten minutes on a quiet 2-CPU machine
    ./run bench --quick    # smoke run, about two minutes
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for path in (REPO, BENCH):  # tests.support (services, problems) and bare_celery
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bare_celery  # noqa: E402
import end_to_end  # noqa: E402
import footprint  # noqa: E402
import history  # noqa: E402
import ipyparallel_anchor  # noqa: E402
import server as server_bench  # noqa: E402
import services  # noqa: E402
import targets  # noqa: E402
import throughput  # noqa: E402

from jupyter_bumps_remote import dispatch, jobs, transport  # noqa: E402
from jupyter_bumps_remote.fitting import local_fit  # noqa: E402
from jupyter_bumps_remote.store import JobStore  # noqa: E402
from jupyter_bumps_remote.worker import make_app  # noqa: E402
from jupyter_bumps_remote.worker.settings import WorkerSettings  # noqa: E402
from tests.support.problems import gaussian_problem  # noqa: E402

DOC = REPO / "docs" / "benchmarks.md"
RESULTS = BENCH / "results" / "latest.json"
SEED = 20240601
LM_TIMEOUT = 60.0
DREAM_TIMEOUT = 300.0
BARE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Plan:
    lm_runs: int
    lm_warmup: int
    dream_steps: int
    dream_runs: int
    bare_runs: int
    bare_warmup: int


DREAM_TARGET = targets.DREAM_TARGET  # remote wall / local wall of a long fit
# dream steps=1000 of the 3-parameter gaussian: about 5 s in-process on a 2-CPU machine
# (750 steps took 3.9 s, 150 steps 1.1 s, with the machine shared)
FULL = Plan(
    lm_runs=100, lm_warmup=5, dream_steps=1000, dream_runs=12, bare_runs=500, bare_warmup=20
)
QUICK = Plan(lm_runs=15, lm_warmup=2, dream_steps=30, dream_runs=2, bare_runs=50, bare_warmup=5)


# -- measurements ---------------------------------------------------------------------------


class Client:
    """Submit and follow jobs as the server will: sync store, blocking XREAD on events."""

    def __init__(self, store: JobStore, app, owner: str):
        self.store, self.app, self.owner = store, app, owner

    def wait(self, job_id: str, timeout: float) -> dict:
        """Like `Remote.wait` in tests/conftest.py: no polling, XREAD BLOCK on the job stream."""
        stream = self.store.keys.events(self.owner, job_id)
        since = "0"
        deadline = time.monotonic() + timeout
        while True:
            record = self.store.get(self.owner, job_id)
            if record["status"] in jobs.TERMINAL:
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"job {job_id} still {record['status']} after {timeout} s")
            found = self.store.wait_events({stream: since}, block_ms=int(min(remaining, 1) * 1000))
            for event in found.get(stream, []):
                since = event["id"]

    def session_size(self, job_id: str, timeout: float = 60) -> int:
        """Bytes of a finished job's session file, which the worker stores just after the
        terminal status (record field `session`: writing, then ready or failed)."""
        deadline = time.monotonic() + timeout
        while self.store.get(self.owner, job_id).get("session") == "writing":
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id}: session file still being written")
            time.sleep(0.02)
        return self.store.redis.strlen(self.store.keys.session(self.owner, job_id))

    def fit(self, problem, fitter: str, options: dict, timeout: float) -> dict:
        """One remote fit, timed in phases: the client's clock for encode and submit, the
        job record's created/started/finished (same machine) for the rest."""
        t0 = time.perf_counter()
        payload = transport.encode(problem)
        t1 = time.perf_counter()
        record = dispatch.submit(
            self.store, self.app, self.owner, payload, fitter, options, seed=SEED
        )
        t2 = time.perf_counter()
        final = self.wait(record["id"], timeout)
        summary = self.store.result(self.owner, record["id"])
        t3, wall = time.perf_counter(), time.time()
        if final["status"] != jobs.SUCCEEDED or summary is None:
            raise RuntimeError(f"remote {fitter} fit ended {final['status']}: {final.get('error')}")
        return {
            "id": record["id"],
            "total": t3 - t0,
            "encode": t1 - t0,
            "submit": t2 - t1,
            "queued": final["started"] - final["created"],
            "running": final["finished"] - final["started"],
            "fit": summary["elapsed"],
            "notified_fetch": wall - final["finished"],
            "payload_bytes": record["payload_size"],
            "summary_bytes": len(json.dumps(summary)),
            "x": summary["x"],
        }


def local(fitter: str, options: dict) -> dict:
    problem = gaussian_problem()
    t0 = time.perf_counter()
    result = local_fit(problem, fitter, SEED, **options)
    return {"total": time.perf_counter() - t0, "x": [float(v) for v in result.x]}


def forked(fitter: str, options: dict) -> dict:
    """The local fit in a fresh fork of this process, timed inside the child: what running
    each fit in a process of its own (the worker's isolation) costs the fit itself."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, json.dumps(local(fitter, options)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def remote(client: Client, fitter: str, options: dict, timeout: float) -> dict:
    return client.fit(gaussian_problem(), fitter, options, timeout)


def compare(client: Client, fitter: str, options: dict, runs: int, warmup: int, timeout: float,
            with_fork: bool = False):  # fmt: skip
    """`warmup` unmeasured runs on each side, then `runs` pairs; remote and local alternate
    so that drift in the machine's load hits both. `with_fork`: a third series, the local
    fit in a fresh fork (`forked`), in the same alternation."""
    warm = [remote(client, fitter, options, timeout)["total"] for _ in range(warmup)]
    for _ in range(warmup):
        local(fitter, options)
    remotes, locals_, forks = [], [], []
    for _ in range(runs):
        remotes.append(remote(client, fitter, options, timeout))
        locals_.append(local(fitter, options))
        if with_fork:
            forks.append(forked(fitter, options))
    return {"first_remote": warm[0] if warm else None, "remote": remotes, "local": locals_,
            "forked": forks}  # fmt: skip


def bare_round_trips(app, runs: int, warmup: int, queue: str = bare_celery.QUEUE) -> list[float]:
    times = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        value = app.send_task(bare_celery.TASK_NAME, args=[i], queue=queue).get(
            timeout=BARE_TIMEOUT
        )
        elapsed = time.perf_counter() - t0
        if value != i:
            raise RuntimeError(f"bare task returned {value!r}, expected {i}")
        if i >= warmup:
            times.append(elapsed)
    return times


def contract_fit_round_trips(app, runs: int, warmup: int) -> dict:
    """The tiny lm fit as a task of the contract-settings bare worker (decode + fit in the
    task's process, nothing stored), alternating with the same fit here."""
    problem_payload = transport.encode(gaussian_problem())
    remote_times, local_times = [], []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        app.send_task(bare_celery.FIT_TASK_NAME, args=[problem_payload, "lm", SEED],
                      queue=bare_celery.CONTRACT_QUEUE).get(timeout=BARE_TIMEOUT)  # fmt: skip
        t1 = time.perf_counter()
        local_fit(gaussian_problem(), "lm", SEED)
        t2 = time.perf_counter()
        if i >= warmup:
            remote_times.append(t1 - t0)
            local_times.append(t2 - t1)
    return {"remote": remote_times, "local": local_times}


# -- report ---------------------------------------------------------------------------------


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def col(rows: list[dict], key: str) -> list[float]:
    return [r[key] for r in rows]


def p50_p95(values) -> list[float]:
    return [pct(values, 50), pct(values, 95)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def sec(seconds: float) -> str:
    return f"{seconds:.2f} s"


def identical(a: list[dict], b: list[dict]) -> bool:
    return all(np.array_equal(x["x"], y["x"]) for x, y in zip(a, b, strict=True))


def figures(lm: dict, dream: dict, bare: list[float], ipp: dict | None = None,
            contract: dict | None = None) -> dict:  # fmt: skip
    phases = ("encode", "submit", "queued", "running", "fit", "notified_fetch")
    return {
        "lm": {
            "local": p50_p95(col(lm["local"], "total")),
            "remote": p50_p95(col(lm["remote"], "total")),
            "phases": {key: p50_p95(col(lm["remote"], key)) for key in phases},
            "first_remote": lm["first_remote"],
            "identical": identical(lm["remote"], lm["local"]),
            "payload_bytes": lm["remote"][0]["payload_bytes"],
            "session_bytes": lm["session_bytes"],
        },
        "dream": {
            "local": p50_p95(col(dream["local"], "total")),
            "remote": p50_p95(col(dream["remote"], "total")),
            "forked": p50_p95(col(dream.get("forked") or dream["local"], "total")),
            "running": pct(col(dream["remote"], "running"), 50),
            "fit": pct(col(dream["remote"], "fit"), 50),
            "identical": identical(dream["remote"], dream["local"]),
            "pair_ratio": p50_p95(
                [
                    r["total"] / lo["total"]
                    for r, lo in zip(dream["remote"], dream["local"], strict=True)
                ]  # fmt: skip
            ),
            "payload_bytes": dream["remote"][0]["payload_bytes"],
            "summary_bytes": dream["remote"][0]["summary_bytes"],
            "session_bytes": dream["session_bytes"],
        },
        "bare": p50_p95(bare),
        "ipp": ipp,
        "contract": contract
        and {
            "noop": p50_p95(contract["noop"]),
            "fit": p50_p95(contract["fit"]["remote"]),
            "fit_local": p50_p95(contract["fit"]["local"]),
            "over": p50_p95(
                [
                    r - lo
                    for r, lo in zip(
                        contract["fit"]["remote"], contract["fit"]["local"], strict=True
                    )
                ]
            ),
        },  # fmt: skip
    }


def contract_rows(plan: Plan, c: dict | None) -> list[tuple]:
    if not c:
        return []
    return [
        ("**Celery with the project's worker settings** (late acks, prefetch 1, time limits, "
         "visibility timeout, task events): no-op round trip", plan.bare_runs,
         *map(ms, c["noop"])),
        ("&nbsp;&nbsp;the lm fit as its task (decode + fit in the task's process, nothing "
         "stored)", plan.lm_runs, *map(ms, c["fit"])),
        ("&nbsp;&nbsp;that − the same fit here, pair by pair", plan.lm_runs,
         *map(ms, c["over"])),
    ]  # fmt: skip


def table(plan: Plan, f: dict) -> str:
    lm, dream, bare = f["lm"], f["dream"], f["bare"]
    p = lm["phases"]
    n_lm, n_dr = plan.lm_runs, plan.dream_runs
    indent = "&nbsp;&nbsp;"
    rows = [
        ("**lm fit**, 3 parameters × 50 points: local, in-process", n_lm, *map(ms, lm["local"])),
        ("**lm fit**: remote (encode + submit + wait + fetch)", n_lm, *map(ms, lm["remote"])),
        (
            "**lm fit: remote − local**",
            "",
            *(ms(r - lo) for r, lo in zip(lm["remote"], lm["local"], strict=True)),
        ),
        (f"{indent}encode (serialize + preflight chisq)", n_lm, *map(ms, p["encode"])),
        (f"{indent}submit (job record + `send_task`)", n_lm, *map(ms, p["submit"])),
        (f"{indent}queued → running (Celery delivery, start)", n_lm, *map(ms, p["queued"])),
        (
            f"{indent}running → finished (fork, decode, fit, summary; the session file follows)",
            n_lm,
            *map(ms, p["running"]),
        ),
        (f"{indent}{indent}of which the fit itself (worker clock)", n_lm, *map(ms, p["fit"])),
        (
            f"{indent}finished → client woken, result fetched",
            n_lm,
            *map(ms, p["notified_fetch"]),
        ),
        ("first remote lm fit after the worker started", 1, ms(lm["first_remote"]), ""),
        (
            "**bare Celery round trip**: no-op `send_task(...).get()`",
            plan.bare_runs,
            *map(ms, bare),
        ),
        *contract_rows(plan, f.get("contract")),
        (
            f"**dream fit**, steps={plan.dream_steps}: local, in-process",
            n_dr,
            *map(sec, dream["local"]),
        ),
        (
            "**dream fit**: remote (encode + submit + wait + fetch)",
            n_dr,
            *map(sec, dream["remote"]),
        ),
        (
            "**dream fit: remote / local**, ratio of the p50s (of the p95s)",
            "",
            *(f"{r / lo:.3f}×" for r, lo in zip(dream["remote"], dream["local"], strict=True)),
        ),
        (
            "**dream fit: remote / local**, pair by pair",
            n_dr,
            *(f"{v:.3f}×" for v in dream["pair_ratio"]),
        ),
        (
            f"{indent}floor: the local fit in a fresh fork of this process / in-process (p50s)",
            n_dr,
            *(f"{r / lo:.3f}×" for r, lo in zip(dream["forked"], dream["local"], strict=True)),
        ),
    ]
    notes = {0: "", 2: "target in the end-to-end table below (through the server)"}
    ratio = dream["remote"][0] / dream["local"][0]
    verdict = "met" if ratio <= DREAM_TARGET else "**missed**"
    notes[len(rows) - 2] = f"target (2) ≤ {DREAM_TARGET:.2f}× (ratio of p50s): {verdict}"
    pair = "met" if dream["pair_ratio"][0] <= DREAM_TARGET else "**missed**"
    notes[len(rows) - 1] = f"p50 of the pairs ≤ {DREAM_TARGET:.2f}×: {pair}"
    if f.get("ipp"):
        ipp = f["ipp"]
        rows.insert(
            11,
            ("**ipyparallel round trip**: `view.apply_sync(noop)`, one engine",
             ipp["noop_runs"], *map(ms, ipp["noop"])),
        )  # fmt: skip
        rows.insert(
            12,
            ("**ipyparallel fit**: `view.apply_sync(local_fit, problem, \"lm\", seed)`",
             ipp["fit_runs"], *map(ms, ipp["fit"])),
        )  # fmt: skip
        notes = {(k + 2 if k >= 11 else k): v for k, v in notes.items()}
    lines = [
        "| Measure | Runs | p50 | p95 | Target, note |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {notes.get(i, '')} |" for i, (a, b, c, d) in
              enumerate(rows)]  # fmt: skip
    return "\n".join(lines)


def notes(plan: Plan, f: dict) -> str:
    lm, dream, bare = f["lm"], f["dream"], f["bare"]
    over = lm["remote"][0] - lm["local"][0]
    same = {True: "identical", False: "**different**"}
    ratio = dream["remote"][0] / dream["local"][0]
    return "\n".join(
        [
            f"- A tiny remote fit costs {ms(over)} more than in the kernel (p50); a bare Celery "
            f"round trip on the same Redis is {ms(bare[0])}, so the project's own path "
            f"(encode, job record, events, handover to the fit process, summary, result) adds "
            f"about {ms(over - bare[0])} on top of Celery.",
            f"- A {sec(dream['local'][0])} dream fit takes {sec(dream['remote'][0])} remotely "
            f"({ratio:.3f}× the p50s; pair by pair p50 {dream['pair_ratio'][0]:.3f}×, p95 "
            f"{dream['pair_ratio'][1]:.3f}×; target ≤ {DREAM_TARGET:.2f}×: "
            f"{'met' if ratio <= DREAM_TARGET else '**missed**'}); on the worker, running → "
            f"finished is {sec(dream['running'])}, of which the fit is {sec(dream['fit'])} "
            f"(p50s): "
            + (
                f"of remote − local = {sec(dream['remote'][0] - dream['local'][0])}, the fit "
                f"itself took {dream['fit'] - dream['local'][0]:+.2f} s more on the worker "
                f"than here, the worker's work around it (handover, decode, summary, status) "
                f"{sec(dream['running'] - dream['fit'])}, and submit, queue and result "
                f"{sec(dream['remote'][0] - dream['running'])}."
            )
            + (
                f" The same fit run by this process in a fresh fork of itself takes "
                f"{sec(dream['forked'][0])}, {dream['forked'][0] / dream['local'][0]:.3f}× "
                f"in-process: "
                + (
                    "a fit in a process of its own (the worker's isolation, RELIABILITY.md 1) "
                    "is slower by itself, wherever it runs (its first touches of the forked "
                    "memory are copy-on-write page faults)."
                    if dream["forked"][0] > 1.01 * dream["local"][0]
                    else "the fork alone does not slow the fit down here."
                )
            ),
            f"- Best points of remote and local fits with the same seed: "
            f"lm {same[lm['identical']]}, dream {same[dream['identical']]}.",
            f"- Sizes: payload {lm['payload_bytes']:,} bytes; session file {lm['session_bytes']:,} "
            f"bytes (lm), {dream['session_bytes']:,} bytes (dream, steps={plan.dream_steps}); "
            f"dream result summary {dream['summary_bytes']:,} bytes of JSON.",
            "- Each percentile is of its own series: the p50s of the phases need not add up to "
            "the p50 of the total. Remote and local runs alternate; warm-up runs are left out "
            "(the first remote fit after the worker started is shown on its own).",
        ]
    )


# Hand-kept: what each change did, measured A/B when it was made (a full run cannot redo it).
CHANGES = BENCH / "changes.md"


def machine() -> dict:
    import bumps
    import celery
    import kombu
    import redis

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "loadavg": loadavg(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "bumps": bumps.__version__,
        "numpy": np.__version__,
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "redis-py": redis.__version__,
        "redis-server": _redis_version(server.stdout),
        "commit": commit or "unknown",
    }


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _redis_version(text: str) -> str:
    for word in text.split():
        if word.startswith("v="):
            return word[2:]
    return text.strip() or "unknown"


def scale_table(f: dict) -> str:
    rows = [
        *throughput.rows(f["sweep"], f["scale"]),
        *history.rows(f["history"]),
        *footprint.rows(f["footprint"]),
    ]
    lines = ["| Measure | N | Figure | Anchor, detail | Target, verdict |",
             "| --- | ---: | ---: | --- | --- |"]  # fmt: skip
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(lines)


def scale_notes(f: dict) -> str:
    return "\n".join(
        [
            *throughput.notes(f["sweep"], f["scale"]),
            *history.notes(f["history"]),
            *footprint.notes(f["footprint"]),
        ]
    )


def scale_section(f: dict) -> str:
    """The section of docs/benchmarks.md on measures 3, 4, 6, 7 and 8 of the [perf] issue."""
    return f"""## Throughput, scale-out, result fetch, history, footprint

On the same private Redis:

- **(3) sweep** (`bench/throughput.py`): tiny lm fits submitted at once with
  `dispatch.submit` (what the server does for a POST) to the run's `bumps-remote worker`
  (2 pool processes), timed from the first submit to the last terminal status event on the
  owner's stream; the anchor is the same number of no-op tasks sent at once (`send_task`
  each, then `.get()` each) to a bare Celery worker of 2 processes on a queue of its own.
  The CPU time of each side's processes (the worker's session, redis-server, the
  submitting process) comes from /proc, before and after.
- **(4) scale-out**: dream fits of about a second submitted at once to a fresh worker with
  1 pool process, then to a fresh one with 2 (each on a queue of its own); speed-up =
  wall time with 1 / wall time with 2.
- **(6) result fetch** and **(7) history** (`bench/history.py`): a real `jupyter server` in
  shared mode for an owner of its own. (6) one DREAM fit of a 5-parameter problem (a
  gaussian peak on a sloping background, model function pickled by value) runs on the
  worker; then, alternating, a kernel-side client in the bench process runs
  `get_job(id).result().state` (GET the record, GET the summary, GET the session file,
  load it with bumps) and bumps' `load_fit_from_session` reads the same session file from
  local disk. (7) finished job records written straight into Redis with the project's
  store code (`dispatch.new_job`, `JobStore.create`, `JobStore.finish`), then
  `GET bumps-remote/api/jobs` (first page, default limit) over HTTP with token auth, then
  every page; the server's memory from /proc before the records, after them and after the
  pages.
- **(8) idle footprint** (`bench/footprint.py`): a `jupyter server` with the extension in
  shared mode, then one with it disabled
  (`--ServerApp.jpserver_extensions=jupyter_bumps_remote=False`), each idle after a few
  requests; and a fresh `bumps-remote worker` with 2 pool processes, idle, on a queue that
  gets no job.

{scale_table(f)}

{scale_notes(f)}
"""


def document(
    plan: Plan,
    quick: bool,
    f: dict,
    info: dict,
    elapsed: float,
    server: str = "",
    e2e: str = "",
    scale: str = "",
    summary: str = "",
) -> str:
    mode = "`./run bench --quick`" if quick else "`./run bench`"
    server = f"\n{server}" if server else ""
    e2e = f"\n{e2e}" if e2e else ""
    scale = f"\n{scale}" if scale else ""
    return f"""# Benchmarks

What sending a fit to a worker costs compared with running it in the kernel, end to end from
a kernel (`submit(...).result()`, `%bumps_remote ... --wait`), and what the server extension
costs a client (REST, WebSocket events, IOLoop lag), how many fits go through, how the
result, a long job history and an idle worker weigh. All figures come from
one run of `bench/run.py` on one machine, so they compare side by side; they are
not meant to be compared across machines.

Set-up, all on 127.0.0.1: a private `redis-server` (AOF on, as in the tests), one
`bumps-remote worker` with 2 pool processes, and for reference a bare Celery app with a no-op
task (json, Redis broker and result backend, prefork with 1 process) on its own queue of the
same Redis, and an ipyparallel controller with one engine. The throughput, scale-out,
history and footprint measures start their own workers and servers (described with them).
The problem is the tests' 3-parameter gaussian `Curve` with 50 points
(`tests.support.problems.gaussian_problem`), its model function pickled by value as from a
notebook.

- **local**: `jupyter_bumps_remote.fitting.local_fit(problem, fitter, seed)` in the bench
  process: the fit that a remote job reproduces.
- **remote**: `transport.encode` + `dispatch.submit` + wait for a terminal status by blocking
  `XREAD` on the job's event stream (as the tests' `Remote.wait`) + `JobStore.result`. The
  phases come from the client's clock and the job record's `created`/`started`/`finished`.
- **bare Celery round trip**: `send_task(...).get()` of a no-op task: the floor that Celery
  and Redis alone set on this machine.
- **floors of the contract** (`bench/bare_celery.py`): what any design that keeps
  ARCHITECTURE.md and RELIABILITY.md pays, whatever its own code: a bare Celery worker with
  the project's worker settings (late acks, prefetch 1, time limits, visibility timeout,
  task events for Flower) running a no-op and the lm fit as its task (decode + fit in the
  task's process, nothing stored); the same fits as a sweep of bare tasks; the dream fit in
  a fresh fork of the bench process (one process per fit); one interpreter holding only the
  imports a warm worker needs.

## Targets

The [perf] issue's targets, each measured in this run; the sections below show how and,
for a miss, the measured cause. The last column is the floor of that measure: where it is
already past the target, no design that keeps the contract meets the target on this
machine, and what the project's design decides is the distance from its figure to the
floor. For (1) the floor is the contract's Celery fit round trip over the local fit plus
two requests to jupyter_server, each at least jupyter_server's own `GET /api/status`
(server section): the submit, which returns at once (the product's live widget needs the
job before its end), and one long poll that brings the end and the result.

{summary}

## Results

{table(plan, f)}

{notes(plan, f)}
{e2e}{server}{scale}
{CHANGES.read_text()}
## Machine

- Date: {info["date"]}; commit {info["commit"]}; run: {mode}, {elapsed:.0f} s in all
- CPUs (nproc): {info["nproc"]} × {info["cpu"]}; load average (1/5/15 min) {info["loadavg"]} at the
  start, {info["loadavg_end"]} at the end (other work on the machine adds noise)
- {info["os"]}
- Python {info["python"]}, bumps {info["bumps"]}, numpy {info["numpy"]}, celery \
{info["celery"]}, kombu {info["kombu"]}, redis-py {info["redis-py"]}, redis-server \
{info["redis-server"]}

## How to reproduce

```sh no-run
./run bench            # full run (about five minutes here); writes this file
./run bench --quick    # smoke run (about two minutes); prints the tables, writes nothing
```

`./run bench` calls `bench/run.py "$@"` (options in `bench/README.md`). It needs
`redis-server` on the PATH, and starts and stops every process itself.
"""


# -- main -----------------------------------------------------------------------------------


_STARTED = time.monotonic()


def stage(message: str) -> None:
    """Say what the run does now, with the seconds since it started; stop here if a
    SIGTERM came (services.stop_on_sigterm)."""
    services.check_stop()
    print(f"[{time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (about two minutes)")
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"write {DOC.relative_to(REPO)} (default: yes for a full run, no with --quick)",
    )
    parser.add_argument("--dream-steps", type=int, help="override the plan's dream steps")
    parser.add_argument(
        "--server",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the server extension too (bench/server.py; default: yes)",
    )
    parser.add_argument(
        "--kernel",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure end to end through a jupyter server and a kernel too "
        "(bench/end_to_end.py; default: yes)",
    )
    parser.add_argument(
        "--ipyparallel",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the ipyparallel anchor (bench/ipyparallel_anchor.py; default: yes)",
    )
    parser.add_argument(
        "--scale",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sweep throughput, scale-out, result fetch, history and idle footprint "
        "(bench/throughput.py, history.py, footprint.py; default: yes)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    plan = QUICK if quick else FULL
    server_plan = server_bench.SERVER_QUICK if quick else server_bench.SERVER_FULL
    e2e_plan = end_to_end.E2E_QUICK if quick else end_to_end.E2E_FULL
    ipp_plan = ipyparallel_anchor.IPP_QUICK if quick else ipyparallel_anchor.IPP_FULL
    tp_plan = throughput.THROUGHPUT_QUICK if quick else throughput.THROUGHPUT_FULL
    hist_plan = history.HISTORY_QUICK if quick else history.HISTORY_FULL
    foot_plan = footprint.FOOTPRINT_QUICK if quick else footprint.FOOTPRINT_FULL
    if args.dream_steps:
        plan = replace(plan, dream_steps=args.dream_steps)
    write = (not quick) if args.write is None else args.write

    services.stop_on_sigterm()
    warnings.filterwarnings("ignore", message="Did not converge")
    started = time.monotonic()
    info = machine()
    e2e_raw = server_raw = ipp_raw = scale_raw = None
    with contextlib.ExitStack() as stack:
        server = services.RedisServer(appendonly=True)
        stack.callback(server.cleanup)
        server.start()
        stage(f"redis-server on {server.url}; starting the workers")
        # the bare worker starts while the bumps worker warms up
        bare = stack.enter_context(services.started(services.BareWorker(server.url)))
        contract_worker = stack.enter_context(services.started(services.BareWorker(
            server.url, queue=bare_celery.CONTRACT_QUEUE, contract=True)))  # fmt: skip
        bare2 = None
        if args.scale:  # the sweep's anchor: 2 processes, a queue of its own; idle till then
            bare2 = stack.enter_context(services.started(throughput.bare_worker(server.url)))
        worker = stack.enter_context(services.started(services.Worker(server.url, concurrency=2)))
        bare.wait_ready()

        settings = WorkerSettings.from_env({}, redis_url=server.url)
        store = JobStore(server.client(), **settings.store_settings())
        app = make_app(settings)
        client = Client(store, app, f"bench-{uuid.uuid4().hex[:8]}")

        stage(f"lm: {plan.lm_runs} remote/local pairs")
        lm = compare(client, "lm", {}, plan.lm_runs, plan.lm_warmup, LM_TIMEOUT)
        lm["session_bytes"] = client.session_size(lm["remote"][-1]["id"])
        stage(f"bare Celery: {plan.bare_runs} round trips")
        bare_app = bare_celery.make_app(server.url)
        bare_times = bare_round_trips(bare_app, plan.bare_runs, plan.bare_warmup)
        bare_app.close()
        stage("bare Celery with the project's worker settings: no-op and lm fit round trips")
        contract_worker.wait_ready()
        contract_app = bare_celery.make_app(server.url, contract=True)
        contract = {
            "noop": bare_round_trips(contract_app, plan.bare_runs, plan.bare_warmup,
                                     bare_celery.CONTRACT_QUEUE),
            "fit": contract_fit_round_trips(contract_app, plan.lm_runs, plan.lm_warmup),
        }  # fmt: skip
        contract_app.close()
        if args.ipyparallel:
            stage("ipyparallel: a controller and one engine on 127.0.0.1")
            ipp_raw = ipyparallel_anchor.measure(ipp_plan)
        if args.kernel:
            stage(f"end to end: a jupyter server in shared mode on {server.url}")
            e2e_raw = end_to_end.measure(e2e_plan, server.url)
        stage(f"dream steps={plan.dream_steps}: {plan.dream_runs} pairs")
        # A short dream on each side first, so the measured runs find dream's code warm.
        compare(client, "dream", {"steps": 5}, 0, 1, DREAM_TIMEOUT)
        options = {"steps": plan.dream_steps}
        dream = compare(client, "dream", options, plan.dream_runs, 0, DREAM_TIMEOUT,
                        with_fork=True)  # fmt: skip
        dream["session_bytes"] = client.session_size(dream["remote"][-1]["id"])
        if args.server:
            stage(f"server: a jupyter server in shared mode on {server.url}")
            server_raw = server_bench.measure(server_plan, server.url, store)
        if args.scale:
            stage(f"sweep: {tp_plan.sweep_fits} lm fits at once")
            sweep = throughput.sweep(tp_plan, server, worker, store, app, bare2)
            stage(f"scale-out: {tp_plan.scale_fits} dream fits, 1 then 2 processes")
            scale = throughput.scale_out(tp_plan, server.url)
            hist = history.measure(hist_plan, server.url)
            foot = footprint.measure(foot_plan, server.url, scale["2"]["idle"], hist["idle_server"])
            scale_raw = {"sweep": sweep, "scale": scale, "history": hist, "footprint": foot}
        app.close()

    elapsed = time.monotonic() - started
    info["loadavg_end"] = loadavg()
    ipp_f = ipyparallel_anchor.figures(ipp_raw) if ipp_raw is not None else None
    f = figures(lm, dream, bare_times, ipp_f, contract)
    print(table(plan, f))
    print()
    print(notes(plan, f))
    e2e_doc = ""
    if e2e_raw is not None:
        e2e_f = end_to_end.figures(e2e_raw, f["bare"], ipp_f)
        e2e_doc = end_to_end.section(e2e_plan, e2e_f)
        print()
        print(end_to_end.table(e2e_f))
        print()
        print(end_to_end.notes(e2e_f))
    server_doc = ""
    if server_raw is not None:
        server_f = server_bench.figures(server_raw)
        before = server_bench.load_baseline()
        server_doc = server_bench.section(server_plan, server_f, before)
        print()
        print(server_bench.table(server_plan, server_f, before))
        print()
        print(server_bench.notes(server_plan, server_f, before))
    scale_doc = ""
    if scale_raw is not None:
        scale_f = {
            "sweep": throughput.sweep_figures(scale_raw["sweep"]),
            "scale": throughput.scale_figures(scale_raw["scale"], tp_plan),
            "history": history.figures(scale_raw["history"], hist_plan),
            "footprint": scale_raw["footprint"],
        }
        scale_doc = scale_section(scale_f)
        print()
        print(scale_table(scale_f))
        print()
        print(scale_notes(scale_f))
    summary = targets.table(
        f,
        e2e_f if e2e_raw is not None else None,
        server_f if server_raw is not None else None,
        scale_f if scale_raw is not None else None,
    )
    print()
    print(summary)
    RESULTS.parent.mkdir(exist_ok=True)
    raw = {"plan": asdict(plan), "machine": info, "figures": f, "elapsed": elapsed}
    raw["runs"] = {"lm": lm, "dream": dream, "bare": bare_times}
    if e2e_raw is not None:
        raw["end_to_end"] = {"plan": asdict(e2e_plan), "figures": e2e_f, "raw": e2e_raw}
    if server_raw is not None:
        raw["server"] = {
            "plan": asdict(server_plan),
            "figures": server_f,
            "post": server_raw["post"],
            "events": server_raw["events"],
        }
    if ipp_raw is not None:
        raw["ipyparallel"] = {"plan": asdict(ipp_plan), "raw": ipp_raw}
    if scale_raw is not None:
        raw["scale"] = {"figures": scale_f, "raw": scale_raw}
    RESULTS.write_text(json.dumps(raw, indent=1))
    if write:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(
            document(plan, quick, f, info, elapsed, server_doc, e2e_doc, scale_doc, summary)
        )
        print(f"\nwrote {DOC.relative_to(REPO)}", file=sys.stderr)
    print(f"done in {elapsed:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
