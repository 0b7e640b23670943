"""Measure: how long a sweep's submit holds the server's IOLoop from everyone else.

A `POST bumps-remote/api/jobs/batch` of 1,000 members (the most one request takes) is sent
from a thread while the main thread probes jupyter_server's own `GET /api/status` every 5
ms; a probe's time beyond the quiet server's is time the IOLoop spent elsewhere. The
members wait on a queue no worker serves (an interpreter no worker has), so that no fit
competes for the CPUs, and are cancelled afterwards.
"""

from __future__ import annotations

import copy
import json
import threading
import time

import requests
from report import Row, ms, p, spread

TITLE = "server"
MEMBERS = 1000  # the server's most per request (kernel/batches.py MAX_JOBS)
METHOD = (
    f"on the `jupyter server` of the run: 6 `POST bumps-remote/api/jobs/batch` of {MEMBERS:,} "
    "tiny `lm` members each (100 with `--quick`), as a sweep's largest requests, on a queue no "
    "worker serves (so no fit takes the CPUs; cancelled afterwards); 3 alone, then 3 with `GET "
    "/api/status` (jupyter_server's own, no Redis) every 5 ms from another thread: its "
    "p95 and longest during the POSTs against 200 on the quiet server before."
)
LAG_TARGET_MS = 20.0  # as the IOLoop lag with 200 WebSockets open (server_latency.py)


def measure(base, quick: bool) -> list[Row]:
    from jupyter_bumps_remote.shared import transport
    from tests.support.problems import gaussian_problem

    members = 100 if quick else MEMBERS
    server = base.server
    http = requests.Session()
    http.headers.update(server.headers)
    status_url = server.url + "api/status"
    jobs_url = server.url + "bumps-remote/api/jobs"

    payload = transport.encode(gaussian_problem())
    unserved = copy.deepcopy(payload)
    unserved["environment"]["python"] = "3.10.2"  # a queue of its own, served by no one
    member = json.dumps({"payload": unserved, "fitter": "lm"})
    body = ('{"jobs":[' + ",".join([member] * members) + '],"wait_for_worker":true}').encode()

    def probe() -> float:
        t0 = time.perf_counter()
        http.get(status_url, timeout=60).raise_for_status()
        return time.perf_counter() - t0

    for _ in range(20):
        probe()
    quiet = [probe() for _ in range(200)]

    answers: list[requests.Response] = []
    busy: list[float] = []

    def post_batch(probing: bool) -> float:
        """One POST's seconds, with the IOLoop probed meanwhile or not."""
        taken: list[float] = []

        def post() -> None:
            poster = requests.Session()
            poster.headers.update(server.headers)
            t0 = time.perf_counter()
            try:
                answers.append(poster.post(jobs_url + "/batch", data=body, timeout=600))
            finally:
                taken.append(time.perf_counter() - t0)

        thread = threading.Thread(target=post)
        thread.start()
        while probing and thread.is_alive():
            busy.append(probe())
            time.sleep(0.005)  # a busy server's pace, not a flood that takes turns by itself
        thread.join()
        return taken[0]

    alone = [post_batch(probing=False) for _ in range(3)]
    probed = [post_batch(probing=True) for _ in range(3)]
    ids = []
    for answer in answers:
        answer.raise_for_status()
        ids += [job["id"] for job in answer.json()["jobs"]]
    for start in range(0, len(ids), 1000):
        http.post(
            jobs_url + "/cancel", data=json.dumps({"ids": ids[start : start + 1000]}), timeout=60
        ).raise_for_status()

    lag95 = p(busy, 95) - p(quiet, 95)
    return [
        Row(
            f"`POST jobs/batch` of {members:,} tiny members, unserved queue",
            spread(alone),
            "",
            None,
            f"{members / p(alone):,.0f} jobs/s stored and queued; {ms(p(probed))} (p50) "
            "while other requests come every 5 ms",
        ),
        Row(
            f"&nbsp;&nbsp;IOLoop lag meanwhile (`GET /api/status`, {len(busy)} probes)",
            f"p95 {ms(lag95)}, longest {ms(max(busy))}",
            f"≤ {LAG_TARGET_MS:.0f} ms (p95)",
            lag95 * 1000 <= LAG_TARGET_MS,
            f"quiet: p50 {ms(p(quiet))}, p95 {ms(p(quiet, 95))}, longest {ms(max(quiet))}",
        ),
    ]
