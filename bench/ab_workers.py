"""Not a measure: the workers of two checkouts side by side, on the interactive path.

    .venv/bin/python bench/ab_workers.py /path/to/before /path/to/after [jobs]

Each checkout gets a private Redis and a worker of 1 process running its own code (its path
first on PYTHONPATH, which the fit launcher keeps); tiny lm jobs go one after the other,
alternating between the two, so that the machine's load falls on both alike. Prints, per
checkout, the p50 and p95 of the job's run on the worker (`started` → `finished`) and of
submit → end as this process sees it. The jobs are submitted with this checkout's store
code: compare checkouts whose store and dispatch agree.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_bumps_remote.shared import jobs, transport  # noqa: E402
from jupyter_bumps_remote.shared.settings import WorkerSettings  # noqa: E402
from jupyter_bumps_remote.store import JobStore  # noqa: E402
from jupyter_bumps_remote.worker import make_app  # noqa: E402
from tests.conftest import Remote  # noqa: E402
from tests.support.problems import gaussian_problem  # noqa: E402
from tests.support.services import RedisServer, Worker  # noqa: E402

WARMUP = 5


def main(checkouts: list[str], n: int) -> None:
    # `python -m` puts the working directory first on a worker's path: from a checkout, its
    # main and pool processes would run that checkout's code whatever PYTHONPATH says
    checkouts = [os.path.abspath(checkout) for checkout in checkouts]
    os.chdir(tempfile.gettempdir())
    stacks = {}
    try:
        for checkout in checkouts:
            redis = RedisServer(appendonly=False).start()
            worker = Worker(redis.url, concurrency=1, pythonpath=[checkout])
            stacks[checkout] = (redis, worker, None, None)
            worker.start()
            settings = WorkerSettings.from_env({}, redis_url=redis.url)
            app = make_app(settings)
            store = JobStore(redis.client(), **settings.store_settings())
            remote = Remote(store, app, f"ab-{uuid.uuid4().hex[:6]}")
            stacks[checkout] = (redis, worker, app, remote)
        payload = transport.encode(gaussian_problem())
        series = {c: {"run": [], "total": []} for c in checkouts}
        for i in range(WARMUP + n):
            for checkout, (_, _, _, remote) in stacks.items():
                t0 = time.perf_counter()
                record = remote.wait(remote.submit(payload, "lm")["id"], timeout=120)
                total = time.perf_counter() - t0
                if record["status"] != jobs.SUCCEEDED:
                    raise RuntimeError(f"{checkout}: {record}")
                if i >= WARMUP:
                    series[checkout]["run"].append(record["finished"] - record["started"])
                    series[checkout]["total"].append(total)
    finally:
        for redis, worker, app, _ in stacks.values():
            worker.stop()
            if app is not None:
                app.close()
            redis.cleanup()
    for checkout, found in series.items():
        shown = ", ".join(
            f"{name} p50 {np.percentile(v, 50) * 1000:.1f} ms (p95 "
            f"{np.percentile(v, 95) * 1000:.1f} ms)"
            for name, v in found.items()
        )
        print(f"{checkout}: {shown}, n={n}")


if __name__ == "__main__":
    main(sys.argv[1:3], int(sys.argv[3]) if len(sys.argv) > 3 else 80)
