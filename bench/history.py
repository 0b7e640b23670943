"""Benchmark: a large job history and a large result, through a real `jupyter server`.

bench/run.py calls `measure()` with its private redis-server and `bumps-remote worker`
running. One `jupyter server` in shared mode on that Redis, for one owner of its own (its
JUPYTERHUB_USER, which the extension takes as the owner with token auth), then:

- result fetch: a 5-parameter DREAM fit of `fetch_steps` steps runs on the worker; then,
  alternating, (r) `get_job(id).result().state` from a kernel-side client in this process
  (GET the record, GET the summary, GET the session file, load it with bumps) and (l)
  bumps' `load_fit_from_session` of the same session file on local disk;
- history: `history_jobs` finished job records written straight into Redis with the
  project's store code (`dispatch.new_job`, `JobStore.create`, `JobStore.finish`), then the
  first page of `GET bumps-remote/api/jobs` timed, then every page; the server's RSS and
  PSS (/proc) before the records, after them, after the pages.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import footprint  # noqa: E402
import procfs  # noqa: E402
import services  # noqa: E402

SEED = 20240601
FETCH_TARGET = 2.0  # remote fetch ≤ 2 × reading the session file from local disk
PAGE_TARGET_MS = 10.0  # GET jobs first page p50
GROWTH_TARGET_MB = 50.0  # server memory growth over 10k jobs and their pages
PAGE_LIMIT = 50  # the route's default page size
SETTLE = 1.0

# Five parameters: a gaussian peak on a sloping background, typed in a "notebook".
PEAK_SOURCE = """
import numpy as np

def peak_on_slope(x, A, mu, sigma, c0, c1):
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2) + c0 + c1 * x
"""


@dataclass(frozen=True)
class HistoryPlan:
    fetch_steps: int
    fetch_runs: int
    history_jobs: int
    first_page_runs: int


HISTORY_FULL = HistoryPlan(fetch_steps=2000, fetch_runs=30, history_jobs=10_000,
                           first_page_runs=200)  # fmt: skip
HISTORY_QUICK = HistoryPlan(fetch_steps=500, fetch_runs=5, history_jobs=2_000,
                            first_page_runs=30)  # fmt: skip


def peak_problem():
    import numpy as np
    from bumps.names import Curve, FitProblem

    from tests.support.problems import user_module

    module = user_module(PEAK_SOURCE, "user_notebook_peak")
    rng = np.random.default_rng(3)
    x = np.linspace(-5, 5, 50)
    y = module.peak_on_slope(x, 1.0, 0.3, 1.2, 0.2, 0.03) + rng.normal(0, 0.05, x.size)
    curve = Curve(module.peak_on_slope, x, y, np.full(x.size, 0.05), A=0.8, mu=0.0, sigma=1.0,
                  c0=0.0, c1=0.0)  # fmt: skip
    curve.A.range(0, 3)
    curve.mu.range(-2, 2)
    curve.sigma.range(0.1, 5)
    curve.c0.range(-1, 1)
    curve.c1.range(-0.5, 0.5)
    return FitProblem(curve)


def result_fetch(plan: HistoryPlan, remote) -> dict:
    """One DREAM fit on the worker, then its result fetched (remote) and its session file
    read from local disk (local), alternating."""
    from bumps.fitters import load_fit_from_session

    from jupyter_bumps_remote.kernel import api

    t0 = time.perf_counter()
    job = remote.submit(peak_problem(), "dream", seed=SEED, steps=plan.fetch_steps)
    first = job.result(timeout=1800)
    fit_wall = time.perf_counter() - t0
    folder = Path(tempfile.mkdtemp(prefix="bumps-remote-bench-fetch-"))
    path = first.save(folder / "fit.h5")
    load_fit_from_session(str(path))  # warm: bumps' readers imported in this process
    rows = []
    try:
        for _ in range(plan.fetch_runs):
            t0 = time.perf_counter()
            again = api.get_job(job.id)
            t1 = time.perf_counter()
            result = again.result()
            t2 = time.perf_counter()
            state = result.state
            t3 = time.perf_counter()
            _, loaded = load_fit_from_session(str(path))
            t4 = time.perf_counter()
            if state.draw().points.shape != loaded.state.draw().points.shape:
                raise RuntimeError("the fetched DREAM state differs from the session file's")
            rows.append({"remote": t3 - t0, "record": t1 - t0, "summary": t2 - t1,
                         "state": t3 - t2, "local": t4 - t3})  # fmt: skip
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()
    return {
        "rows": rows,
        "fit_wall": fit_wall,
        "session_bytes": len(first.session_bytes()),
        "summary_bytes": len(__import__("json").dumps(first.to_dict())),
        "points": int(state.draw().points.shape[0]),
        "parameters": len(first.labels),
    }


def load_history(store, owner: str, n: int) -> float:
    """`n` finished lm jobs for `owner`, written with the project's store code. Seconds."""
    from jupyter_bumps_remote import dispatch, jobs, transport
    from tests.support.problems import gaussian_problem

    payload = transport.encode(gaussian_problem())
    t0 = time.perf_counter()
    for i in range(n):
        record, raw = dispatch.new_job(
            owner, payload, "lm", {}, seed=i, name=f"history {i}", tags=["history"],
            queue_prefix="bench-history.", max_attempts=3,
        )  # fmt: skip
        store.create(record, raw)
        store.finish(owner, record["id"], jobs.SUCCEEDED, summary={"chisq": 1.0})
    return time.perf_counter() - t0


def _server_memory(server) -> dict:
    return procfs.memory(server.process.pid)


def _profile_first_page(server, get, runs: int) -> dict:
    """The first page again, `runs` times, with py-spy on the server (apart from the timed
    GETs: sampling costs CPU). {"missing": why} without py-spy."""
    import pyspy

    if pyspy.executable() is None:
        return {"missing": "py-spy is not installed (pip install py-spy)"}
    with pyspy.record(server.process.pid) as found:
        time.sleep(1)
        for _ in range(runs):
            get()
    return {"gets": runs, **found}


def history(plan: HistoryPlan, server, api_session, store, owner: str) -> dict:
    url = server.url + "bumps-remote/api/jobs"
    status_url = server.url + "api/status"

    def get(query: str = "") -> tuple[float, dict]:
        t0 = time.perf_counter()
        response = api_session.get(url + query, timeout=30)
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise RuntimeError(f"GET jobs{query}: {response.status_code} {response.text[:300]}")
        return elapsed, response.json()

    for _ in range(20):  # warm: the route and the connection pool used once
        get()
        api_session.get(status_url, timeout=30)
    time.sleep(SETTLE)
    before = _server_memory(server)
    loading = load_history(store, owner, plan.history_jobs)
    time.sleep(SETTLE)
    loaded = _server_memory(server)
    first, status = [], []
    for _ in range(plan.first_page_runs):
        elapsed, page = get()
        first.append(elapsed)
        if len(page["jobs"]) != PAGE_LIMIT or page["total"] < plan.history_jobs:
            raise RuntimeError(f"first page: {len(page['jobs'])} jobs of {page['total']}")
        t0 = time.perf_counter()
        api_session.get(status_url, timeout=30)
        status.append(time.perf_counter() - t0)
    # the Redis part of a page alone: the store's list in this process, no HTTP
    store_list, page_bytes = [], len(api_session.get(url, timeout=30).content)
    for _ in range(plan.first_page_runs):
        t0 = time.perf_counter()
        store.list(owner, limit=PAGE_LIMIT)
        store_list.append(time.perf_counter() - t0)
    found = _profile_first_page(server, get, plan.first_page_runs)
    pages, offset, seen = [], 0, 0
    while offset is not None:
        elapsed, page = get(f"?offset={offset}&limit={PAGE_LIMIT}")
        pages.append(elapsed)
        seen += len(page["jobs"])
        offset = page["next_offset"]
    if seen < plan.history_jobs:
        raise RuntimeError(f"walking the pages saw {seen} jobs, expected {plan.history_jobs}")
    time.sleep(SETTLE)
    after = _server_memory(server)
    return {
        "jobs": plan.history_jobs,
        "loading": loading,
        "first": first,
        "status": status,
        "store_list": store_list,
        "page_bytes": page_bytes,
        "profile": found,
        "pages": pages,
        "memory": {"before": before, "loaded": loaded, "after": after},
    }


def measure(plan: HistoryPlan, redis_url: str) -> dict:
    """Start the server for an owner of its own, run both measurements, stop it."""
    import redis
    import requests

    import jupyter_bumps_remote as remote
    from jupyter_bumps_remote import kernel as _  # noqa: F401 - the client's imports, warm
    from jupyter_bumps_remote.kernel import api
    from jupyter_bumps_remote.store import JobStore
    from jupyter_bumps_remote.worker.settings import WorkerSettings

    owner = f"bench-history-{uuid.uuid4().hex[:8]}"
    settings = WorkerSettings.from_env({}, redis_url=redis_url)
    store = JobStore(redis.Redis.from_url(redis_url), **settings.store_settings())
    session = requests.Session()
    session.trust_env = False
    try:
        with services.jupyter_server(
            redis_url, prefix="bumps-remote-bench-history-", env={"JUPYTERHUB_USER": owner}
        ) as server:
            session.headers.update(server.headers)
            idle = footprint.server_memory(server, SETTLE)  # (8): before any job
            remote.connect(server.url, server.token)
            print(f"history: a {plan.fetch_steps}-step dream result, fetched "
                  f"{plan.fetch_runs} times", file=sys.stderr)  # fmt: skip
            fetch = result_fetch(plan, remote)
            print(f"history: {plan.history_jobs} finished jobs, GET jobs", file=sys.stderr)
            pages = history(plan, server, session, store, owner)
    finally:
        api._client = None
        session.close()
        store.redis.close()
    return {"fetch": fetch, "history": pages, "idle_server": idle}


# -- report -----------------------------------------------------------------------------------


def _p(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _mb(nbytes: float) -> str:
    return f"{nbytes / procfs.MB:.1f} MB"


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def figures(raw: dict, plan: HistoryPlan) -> dict:
    fetch, hist = raw["fetch"], raw["history"]
    rows = fetch["rows"]
    col = {key: [r[key] for r in rows] for key in rows[0]}
    memory = hist["memory"]
    return {
        "fetch": {
            "steps": plan.fetch_steps,
            "n": len(rows),
            **{key: [_p(v, 50), _p(v, 95)] for key, v in col.items()},
            "pair_ratio": [_p([r["remote"] / r["local"] for r in rows], q) for q in (50, 95)],
            "fit_wall": fetch["fit_wall"],
            "session_bytes": fetch["session_bytes"],
            "summary_bytes": fetch["summary_bytes"],
            "points": fetch["points"],
            "parameters": fetch["parameters"],
        },
        "history": {
            "jobs": hist["jobs"],
            "loading": hist["loading"],
            "first": [_p(hist["first"], 50), _p(hist["first"], 95)],
            "first_n": len(hist["first"]),
            "status": [_p(hist["status"], 50), _p(hist["status"], 95)],
            "store_list": [_p(hist["store_list"], 50), _p(hist["store_list"], 95)],
            "page_bytes": hist["page_bytes"],
            "profile": hist.get("profile") or {},
            "pages": [_p(hist["pages"], 50), _p(hist["pages"], 95), max(hist["pages"])],
            "pages_n": len(hist["pages"]),
            "rss": [memory[k]["rss"] for k in ("before", "loaded", "after")],
            "pss": [memory[k]["pss"] for k in ("before", "loaded", "after")],
        },
    }


def rows(f: dict) -> list[tuple]:
    fe, h = f["fetch"], f["history"]
    ratio = fe["remote"][0] / fe["local"][0]
    growth = h["rss"][2] - h["rss"][0]
    return [
        (f"**(6) result fetch**: `get_job(id).result().state`, {fe['parameters']}-parameter "
         f"DREAM, {fe['steps']} steps (p50 / p95)", fe["n"],
         f"{_ms(fe['remote'][0])} / {_ms(fe['remote'][1])}",
         f"`load_fit_from_session` from local disk: {_ms(fe['local'][0])} / "
         f"{_ms(fe['local'][1])}",
         f"≤ 2×: {ratio:.2f}× (p50s; per pair {fe['pair_ratio'][0]:.2f}×), "
         f"{_met(ratio <= FETCH_TARGET)}"),
        ("&nbsp;&nbsp;GET the record / GET the summary / GET the session file and load it",
         fe["n"], " / ".join(_ms(fe[k][0]) for k in ("record", "summary", "state")),
         f"session file {fe['session_bytes']:,} bytes, summary {fe['summary_bytes']:,} bytes",
         ""),
        (f"**(7) history**: `GET bumps-remote/api/jobs` first page ({PAGE_LIMIT} jobs) with "
         f"{h['jobs']:,} finished jobs (p50 / p95)", h["first_n"],
         f"{_ms(h['first'][0])} / {_ms(h['first'][1])}",
         f"jupyter_server's `GET /api/status`: {_ms(h['status'][0])} / {_ms(h['status'][1])}",
         f"p50 ≤ {PAGE_TARGET_MS:.0f} ms: {_met(h['first'][0] * 1000 <= PAGE_TARGET_MS)}"),
        ("&nbsp;&nbsp;of which the store's `list` alone (Redis reads and decoding, "
         "in the bench process)", h["first_n"],
         f"{_ms(h['store_list'][0])} / {_ms(h['store_list'][1])}",
         f"response {h['page_bytes']:,} bytes of JSON", ""),
        (f"&nbsp;&nbsp;every page of {PAGE_LIMIT}, by offset (p50 / p95 / max)", h["pages_n"],
         " / ".join(_ms(v) for v in h["pages"]), "", ""),
        ("&nbsp;&nbsp;server RSS: before the jobs / after writing them / after the pages", "",
         " / ".join(_mb(v) for v in h["rss"]),
         "PSS: " + " / ".join(_mb(v) for v in h["pss"]),
         f"growth ≤ {GROWTH_TARGET_MB:.0f} MB: {_mb(growth)}, "
         f"{_met(growth <= GROWTH_TARGET_MB * procfs.MB)}"),
    ]  # fmt: skip


def _profile_note(found: dict) -> str:
    if "missing" in found:
        return f"- (7) Profile of the server on `GET jobs`: not taken, {found['missing']}."
    if not found.get("samples"):
        return "- (7) Profile of the server on `GET jobs`: py-spy recorded nothing."
    ours = [f"`{name}` {share:.0%}" for name, share in found["ours"]]
    leaves = [f"{name} {share:.0%}" for name, share in found["leaves"][:6]]
    return (
        f"- (7) py-spy on the `jupyter server` during {found['gets']} more first-page GETs "
        f"({found['samples']:,} samples of threads py-spy judged busy): share of the "
        f"samples in each function of ours, callees included: "
        f"{', '.join(ours) or 'none'}. Innermost frames by package: {', '.join(leaves)}."
    )


def notes(f: dict) -> list[str]:
    fe, h = f["fetch"], f["history"]
    ratio = fe["remote"][0] / fe["local"][0]
    lines = [
        f"- (6) The DREAM fit ({fe['parameters']} parameters, {fe['steps']} steps, "
        f"{fe['points']:,} draws in the state) took {fe['fit_wall']:.1f} s end to end. "
        f"Fetching its result into a kernel-side client (a new `get_job(id)` each time, then "
        f"`.result().state`) took {_ms(fe['remote'][0])} (p50) against {_ms(fe['local'][0])} "
        f"for bumps reading the same session file from local disk: {ratio:.2f}× "
        f"({_met(ratio <= FETCH_TARGET)}). Of it: GET the record {_ms(fe['record'][0])}, GET "
        f"the summary {_ms(fe['summary'][0])}, GET the session file, write it to a temporary "
        f"file and load it with bumps {_ms(fe['state'][0])}: the load itself is the same "
        "work as the local side.",
        f"- (7) {h['jobs']:,} finished jobs written with the store code in "
        f"{h['loading']:.1f} s. First page of `GET jobs` {_ms(h['first'][0])} p50 "
        f"({_met(h['first'][0] * 1000 <= PAGE_TARGET_MS)}), of which jupyter_server's own "
        f"floor (`GET /api/status`, token auth, no Redis) is {_ms(h['status'][0])} and the "
        f"store's `list` alone (ZCARD + ZREVRANGE, then {PAGE_LIMIT} HGETALLs in one "
        f"pipeline, decoded; sync redis-py in the bench process) {_ms(h['store_list'][0])}; "
        f"the rest, about "
        f"{_ms(h['first'][0] - h['status'][0] - h['store_list'][0])}, is the server's own "
        f"work on the page (asyncio redis-py, `describe` per job, JSON of "
        f"{h['page_bytes']:,} bytes). Walking every page by offset: p50 "
        f"{_ms(h['pages'][0])} over {h['pages_n']} pages"
        + (
            " (a page deep in the history costs what the first does). "
            if h["pages"][0] <= 1.3 * h["first"][0]
            else ", more than the first page: the walk's GETs go back to back, while the "
            "first-page GETs alternate with `/api/status` probes (not looked into further). "
        )
        + f"Server RSS {_mb(h['rss'][0])} before, {_mb(h['rss'][2])} after the pages "
        f"(+{_mb(h['rss'][2] - h['rss'][0])}): the server keeps no job in memory.",
        _profile_note(h["profile"]),
    ]
    return lines
