"""Measure: a large result and a long job history through a `jupyter server`.

A server of its own, for an owner of its own (its JUPYTERHUB_USER). A 5-parameter DREAM fit
runs on the worker; its result is then fetched (`get_job(id).result().state`) alternating
with bumps reading the same session file from local disk. Then finished job records are
written straight into Redis with the project's store code, and the first page of
`GET bumps-remote/api/jobs` is timed, and the server's memory read before and after.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import requests
import services
from report import Row, alternate, mb, ms, p, spread, timed

TITLE = "result fetch, history"
METHOD = (
    "a server of its own for one owner. Result fetch: a `dream` fit of 2,000 steps (500 "
    "with `--quick`) on a 5-parameter peak on a sloping background, then 30 alternating "
    "`get_job(id).result().state` (record, summary, session file, loaded by bumps) and "
    "bumps' `load_fit_from_session` of the same file on local disk. History: 10,000 finished "
    "records (2,000) written with the store code (`dispatch.new_job`, `JobStore.create`, "
    "`JobStore.finish`), then 200 `GET bumps-remote/api/jobs` (first page of 50); the "
    "server's RSS from /proc before the records and after the GETs."
)
FETCH_TARGET = 2.0
PAGE_TARGET_MS = 10.0
GROWTH_TARGET_MB = 50.0
PEAK = """
import numpy as np

def peak_on_slope(x, A, mu, sigma, c0, c1):
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2) + c0 + c1 * x
"""


def peak_problem():
    import numpy as np
    from bumps.names import Curve, FitProblem

    from tests.support.problems import user_module

    model = user_module(PEAK, "user_notebook_peak").peak_on_slope
    x = np.linspace(-5, 5, 50)
    y = model(x, 1.0, 0.3, 1.2, 0.2, 0.03) + np.random.default_rng(3).normal(0, 0.05, x.size)
    curve = Curve(model, x, y, np.full(x.size, 0.05), A=0.8, mu=0.0, sigma=1.0, c0=0.0, c1=0.0)
    for name, low, high in (
        ("A", 0, 3),
        ("mu", -2, 2),
        ("sigma", 0.1, 5),
        ("c0", -1, 1),
        ("c1", -0.5, 0.5),
    ):
        getattr(curve, name).range(low, high)
    return FitProblem(curve)


def write_history(redis_url: str, owner: str, count: int) -> None:
    import redis

    from jupyter_bumps_remote.server_ext import dispatch
    from jupyter_bumps_remote.shared import jobs, transport
    from jupyter_bumps_remote.shared.settings import WorkerSettings
    from jupyter_bumps_remote.store import JobStore
    from tests.support.problems import gaussian_problem

    settings = WorkerSettings.from_env({}, redis_url=redis_url)
    store = JobStore(redis.Redis.from_url(redis_url), **settings.store_settings())
    payload = transport.encode(gaussian_problem())
    for i in range(count):
        record, raw = dispatch.new_job(
            owner,
            payload,
            "lm",
            {},
            seed=i,
            name=f"history {i}",
            tags=["history"],
            queue_prefix="bench-history.",
            max_attempts=3,
        )
        store.create(record, raw)
        store.finish(owner, record["id"], jobs.SUCCEEDED, summary={"chisq": 1.0})
    store.redis.close()


def measure(base, quick: bool) -> list[Row]:
    from bumps.fitters import load_fit_from_session

    steps, fetches, count, gets = (500, 5, 2000, 30) if quick else (2000, 30, 10_000, 200)
    owner, remote = f"bench-history-{uuid.uuid4().hex[:8]}", base.remote
    folder = Path(tempfile.mkdtemp(prefix="bumps-remote-bench-fetch-"))
    try:
        with services.jupyter_server(base.redis.url, env={"JUPYTERHUB_USER": owner}) as server:
            remote.connect(server.url, server.token)
            job = remote.submit(peak_problem(), "dream", seed=services.SEED, steps=steps)
            path = job.result(1800).save(folder / "fit.h5")
            size = path.stat().st_size

            def fetch() -> float:
                t0 = time.perf_counter()
                if remote.get_job(job.id).result().state is None:
                    raise RuntimeError("the fetched result has no DREAM state")
                return time.perf_counter() - t0

            def read() -> float:
                t0 = time.perf_counter()
                load_fit_from_session(str(path))
                return time.perf_counter() - t0

            fetched, local = alternate(fetch, read, n=fetches, warmup=1)
            http = requests.Session()
            http.headers.update(server.headers)

            def first_page(expected: int = 1) -> float:
                t0 = time.perf_counter()
                page = http.get(server.url + "bumps-remote/api/jobs", timeout=30).json()
                if len(page["jobs"]) < expected:
                    raise RuntimeError(f"first page: {len(page['jobs'])} jobs, not {expected}")
                return time.perf_counter() - t0

            alternate(first_page, n=20)
            before = services.memory(server.process.pid)["rss"]
            write_history(base.redis.url, owner, count)
            status = server.url + "api/status"
            pages, statuses = alternate(
                lambda: first_page(50), lambda: timed(http.get, status, timeout=30), n=gets
            )
            growth = services.memory(server.process.pid)["rss"] - before
    finally:
        remote.connect(base.server.url, base.server.token)
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    ratio = p(fetched) / p(local)
    return [
        Row(
            f"result fetch, 5-parameter DREAM of {steps} steps: `get_job(id).result().state`",
            f"{ratio:.2f}× reading the session file here ({ms(p(fetched))} / {ms(p(local))})",
            f"≤ {FETCH_TARGET:.0f}×",
            ratio <= FETCH_TARGET,
            f"session file {size:,} bytes",
        ),
        Row(
            f"`GET bumps-remote/api/jobs` first page with {count:,} jobs",
            spread(pages),
            f"p50 ≤ {PAGE_TARGET_MS:.0f} ms",
            p(pages) * 1000 <= PAGE_TARGET_MS,
            f"floor: jupyter_server's own `GET /api/status` alternating with it: {ms(p(statuses))}",
        ),
        Row(
            "server RSS growth over those jobs and GETs",
            mb(growth),
            f"≤ {GROWTH_TARGET_MB:.0f} MB",
            growth <= GROWTH_TARGET_MB * services.MB,
        ),
    ]
