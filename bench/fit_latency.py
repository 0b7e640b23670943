"""Measure: a tiny fit sent away against the same fit in the kernel, beside its anchors.

Side by side in one run: `submit(problem, "lm").result()` through the run's `jupyter server`
alternating with `local_fit` in this process; a bare Celery no-op round trip on the same
Redis; the contract's floor (a bare Celery worker with the project's settings running the
same fit, plus two requests to jupyter_server: the submit and the long poll that brings the
result); ipyparallel's round trip and the same fit on one engine.
"""

from __future__ import annotations

import time

import requests
import services
from bare_celery import FIT, NOOP, make_app
from report import Row, alternate, ms, p, spread, timed

TITLE = "tiny fit: remote vs local"
METHOD = (
    "the tests' 3-parameter gaussian `Curve` (50 points, model pickled by value as from a "
    'notebook), `lm`: `submit(problem, "lm", seed=S).result()` through the `jupyter server` '
    'alternating with `local_fit(problem, "lm", S)` here; the phases from the job record\'s '
    "`created`/`started`/`finished`. Anchors in the same run: a bare Celery no-op "
    "`send_task(...).get()` (1 process, no settings); the contract's floor: a bare Celery "
    "worker with the project's settings running the same fit as its task (decode + fit, "
    "nothing stored) over the fit here, plus 2 × jupyter_server's own `GET /api/status`; "
    "ipyparallel (`ipcontroller` and 1 engine, cloudpickle): `apply_sync(noop)` and "
    '`apply_sync(local_fit, problem, "lm", S)`. The [perf] issue\'s target: remote − local '
    "(p50, pair by pair) within 5 ms of that floor."
)


FLOOR_MARGIN = 0.005  # s: the [perf] issue's 4th target, remote − local ≤ the floor + 5 ms


def _noop(value=None):
    return value


def measure(base, quick: bool) -> list[Row]:
    from jupyter_bumps_remote.shared import transport
    from jupyter_bumps_remote.shared.fitting import local_fit
    from tests.support.problems import gaussian_problem

    n, n_bare = (15, 50) if quick else (100, 500)
    remote, seed = base.remote, services.SEED

    def send_away() -> dict:
        w0, t0 = time.time(), time.perf_counter()
        job = remote.submit(gaussian_problem(), "lm", seed=seed)
        result = job.result(60)
        total, record = time.perf_counter() - t0, job.record
        return {
            "total": total,
            "created": record["created"] - w0,
            "queued": record["started"] - record["created"],
            "running": record["finished"] - record["started"],
            "fit": result.to_dict()["elapsed"],
        }

    def here() -> float:
        return timed(local_fit, gaussian_problem(), "lm", seed)

    ours, local = alternate(send_away, here, n=n, warmup=3)
    total = [r["total"] for r in ours]
    over = [r["total"] - lo for r, lo in zip(ours, local, strict=True)]

    status = requests.Session()
    status.headers.update(base.server.headers)
    status_url = base.server.url + "api/status"
    (status_times,) = alternate(lambda: timed(status.get, status_url, timeout=30), n=n_bare)
    url = base.redis.url
    payload = transport.encode(gaussian_problem())
    with (
        services.started(services.BareWorker(url, "bench-bare")),
        services.started(services.BareWorker(url, "bench-contract", contract=True)),
    ):
        bare_app, contract_app = make_app(url), make_app(url, contract=True)

        def task(app, name, queue, *args):
            return lambda: timed(
                lambda: app.send_task(name, args=args, queue=queue).get(timeout=30)
            )

        (bare,) = alternate(task(bare_app, NOOP, "bench-bare", 1), n=n_bare, warmup=20)
        (contract,) = alternate(task(contract_app, NOOP, "bench-contract", 1), n=n_bare)
        contract_fit, contract_local = alternate(
            task(contract_app, FIT, "bench-contract", payload, "lm", seed), here, n=n
        )
        bare_app.close()
        contract_app.close()
    with services.ipyparallel(engines=1) as cluster:
        view = cluster.client[0]
        (ipp_noop,) = alternate(lambda: timed(view.apply_sync, _noop, 1), n=n_bare)
        (ipp_fit,) = alternate(
            lambda: timed(view.apply_sync, local_fit, gaussian_problem(), "lm", seed), n=n
        )
    contract_over = [r - lo for r, lo in zip(contract_fit, contract_local, strict=True)]
    floor = p(contract_over) + 2 * p(status_times)
    anchor = p(ipp_noop) + p(local)
    phases = ", ".join(
        f"{label} {ms(p([r[key] for r in ours]))}"
        for key, label in (
            ("created", "encode + POST"),
            ("queued", "queued"),
            ("running", "running"),
            ("fit", "of which the fit"),
        )
    )
    return [
        Row(
            "#17.4 tiny lm fit: `submit(...).result()` − `local_fit`, pair by pair",
            spread(over),
            f"≤ floor + {ms(FLOOR_MARGIN)} = {ms(floor + FLOOR_MARGIN)}",
            p(over) <= floor + FLOOR_MARGIN,
            f"floor {ms(floor)}: the contract's Celery fit round trip over the same fit here "
            f"{ms(p(contract_over))}, + 2 × `GET /api/status` {ms(p(status_times))}; "
            f"phases p50: {phases}",
        ),
        Row(
            "tiny lm fit: `submit(...).result()`, end to end",
            spread(total),
            f"< ipyparallel round trip + local fit = {ms(anchor)}",
            p(total) < anchor,
            f"floor + local fit = {ms(floor + p(local))}",
        ),
        Row("&nbsp;&nbsp;`local_fit` in this process", spread(local)),
        Row("&nbsp;&nbsp;bare Celery no-op round trip", spread(bare)),
        Row("&nbsp;&nbsp;Celery with the project's settings: no-op round trip", spread(contract)),
        Row("&nbsp;&nbsp;… the lm fit as its task − the same fit here", spread(contract_over)),
        Row("&nbsp;&nbsp;jupyter_server's own `GET /api/status`", spread(status_times)),
        Row("&nbsp;&nbsp;ipyparallel no-op `apply_sync`, 1 engine", spread(ipp_noop)),
        Row("&nbsp;&nbsp;ipyparallel `apply_sync(local_fit, …)`", spread(ipp_fit)),
    ]
