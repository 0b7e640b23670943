"""Measure: the server extension as a client meets it, on the run's `jupyter server`.

POST latency of a job; event latency from the worker to a WebSocket client (the Redis
stream id's time, the Redis server's clock at XADD, against the client's clock when it reads
the message; same machine); IOLoop lag with many WebSockets open while fits run. The
subscribers run in child processes (`python bench/server_latency.py subscribe`), one alone
in its process, whose latencies are the server's, and the rest in another; a child prints
one line when its sockets are open and one with what they received when its stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import time

import requests
from report import Row, ms, p, spread

TITLE = "server"
METHOD = (
    "on the `jupyter server` of the run: 200 `POST bumps-remote/api/jobs` of the tiny `lm` "
    "payload (30 with `--quick`), each job run to its end before the next; event latency: "
    "one WebSocket on `bumps-remote/api/events` while 12 slow `dream` fits run (the tests' "
    "`slow_gaussian`: 1 ms of sleep per evaluation, so that progress flows at the usual "
    "pace while the CPUs stay with the server), receive time − stream id time; IOLoop lag: "
    "300 `GET /api/status` (jupyter_server's own, no Redis) 10 ms apart with 2 slow fits "
    "running, with 200 WebSockets open (50 with `--quick`) minus without (before and "
    "after: load drifting between the windows can make it negative); every 5th probe "
    "also a `GET bumps-remote/api/jobs/{id}` (one Redis read), whose errors are counted."
)
LATENCY_TARGET_MS = 20.0  # p95, worker → WebSocket client; and IOLoop lag at 200 sockets
SLOW = {"model": "slow_gaussian", "DELAY": 0.001}


async def _subscribe(url: str, token: str, count: int) -> None:
    from tornado import httpclient, websocket

    headers = {"Authorization": f"token {token}"}
    slots = asyncio.Semaphore(20)

    async def connect():  # a request of its own each: tornado adds the socket's key to it
        request = httpclient.HTTPRequest(url, headers=headers, connect_timeout=30)
        async with slots:
            return await websocket.websocket_connect(request, ping_interval=None)

    sockets = await asyncio.gather(*(connect() for _ in range(count)))
    received: list[list] = [[] for _ in sockets]

    async def read(ws, out):
        while (message := await ws.read_message()) is not None:
            event = json.loads(message)
            out.append([event["id"], time.time() * 1000, (event.get("data") or {}).get("job")])

    readers = [
        asyncio.ensure_future(read(ws, out)) for ws, out in zip(sockets, received, strict=True)
    ]
    # No collection while it measures: a full one of this process took 14 to 21 ms (gc
    # callbacks, one run), which one event in 14 then counted as the server's latency.
    gc.collect()
    gc.freeze()
    gc.disable()
    print(json.dumps({"ready": time.time() * 1000}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    for ws, reader in zip(sockets, readers, strict=True):
        ws.close()
        reader.cancel()
    print(json.dumps({"received": received}), flush=True)


class Subscribers:
    """`count` WebSockets on the owner's event stream, in a child process."""

    def __init__(self, server, count: int):
        since = f"{int(time.time() * 1000)}-0"  # nothing older is replayed
        env = {
            **os.environ,
            "BENCH_WS_URL": "ws" + server.url[4:] + f"bumps-remote/api/events?since={since}",
            "BENCH_WS_TOKEN": server.token,
            "BENCH_WS_COUNT": str(count),
        }
        self.process = subprocess.Popen(
            [sys.executable, __file__, "subscribe"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{count} WebSockets did not open")
        self.ready = json.loads(line)["ready"]

    def latencies(self, jobs: set | None = None) -> list[float]:
        """Stop; milliseconds from each event's XADD to its reading, since all were open."""
        self.process.stdin.close()
        received = json.loads(self.process.stdout.readline())["received"]
        self.process.wait(60)
        return [
            (now - int(i.split("-")[0])) / 1000
            for socket in received
            for i, now, job in socket
            if (jobs is None or job in jobs) and int(i.split("-")[0]) >= self.ready
        ]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def measure(base, quick: bool) -> list[Row]:
    from jupyter_bumps_remote.shared import transport
    from tests.support.problems import gaussian_problem

    n_post, n_events, n_probes, crowd = (30, 4, 60, 50) if quick else (200, 12, 300, 200)
    server, remote = base.server, base.remote
    http = requests.Session()
    http.headers.update(server.headers)
    jobs_url = server.url + "bumps-remote/api/jobs"

    def post(payload: dict, fitter: str, options: dict | None = None) -> str:
        response = http.post(
            jobs_url,
            timeout=30,
            json={"payload": payload, "fitter": fitter, "options": options or {}},
        )
        response.raise_for_status()
        return response.json()["id"]

    lm = transport.encode(gaussian_problem())
    posts = []
    for i in range(n_post + 3):
        t0 = time.perf_counter()
        done = post(lm, "lm")
        if i >= 3:
            posts.append(time.perf_counter() - t0)
        remote.get_job(done).result(60)

    slow = transport.encode(gaussian_problem(**SLOW))
    one = Subscribers(server, 1)
    try:
        ids = {
            post(slow, "dream", {"steps": 15 if quick else 25, "burn": 0}) for _ in range(n_events)
        }
        for job_id in ids:
            remote.get_job(job_id).result(600)
        time.sleep(0.5)  # the last events on their way
        events = one.latencies(ids)
    finally:
        one.close()

    errors = {}

    def probes() -> list[float]:
        times = []
        for i in range(n_probes):
            t0 = time.perf_counter()
            http.get(server.url + "api/status", timeout=30).raise_for_status()
            times.append(time.perf_counter() - t0)
            if i % 5 == 4:
                code = http.get(f"{jobs_url}/{done}", timeout=30).status_code
                if code != 200:
                    errors[code] = errors.get(code, 0) + 1
            time.sleep(0.01)
        return times

    load = [post(slow, "dream", {"steps": 100_000, "burn": 0}) for _ in range(2)]
    try:
        while any(remote.get_job(j).status != "running" for j in load):
            time.sleep(0.05)
        quiet = probes()
        with contextlib.ExitStack() as stack:
            observer = Subscribers(server, 1)
            stack.callback(observer.close)
            stack.callback(Subscribers(server, crowd - 1).close)
            time.sleep(1)
            crowded = probes()
            seen = observer.latencies()
        quiet += probes()  # the same without sockets before and after: drift hits both sides
    finally:
        for job_id in load:
            http.post(f"{jobs_url}/{job_id}/cancel", timeout=30)
    lag = [p(crowded, q) - p(quiet, q) for q in (50, 95)]
    codes = ", ".join(f"{v}× {k}" for k, v in errors.items()) or "none"
    target = f"≤ {LATENCY_TARGET_MS:.0f} ms (p95)"
    return [
        Row(
            "`POST bumps-remote/api/jobs`, tiny lm payload, idle server",
            spread(posts),
            "",
            None,
            f"jupyter_server's own `GET /api/status` meanwhile: {ms(p(quiet))}",
        ),
        Row(
            f"event latency worker → WebSocket, 1 socket, {n_events} fits",
            spread(events),
            target,
            p(events, 95) * 1000 <= LATENCY_TARGET_MS,
        ),
        Row(
            f"IOLoop lag, {crowd} WebSockets open, 2 fits running",
            f"{ms(lag[0])} (p95 {ms(lag[1])})",
            target + " at 200",
            lag[1] * 1000 <= LATENCY_TARGET_MS,
            f"`GET /api/status` {ms(p(quiet))} → {ms(p(crowded))} (p50); errors of "
            f"`GET jobs/{{id}}` meanwhile: {codes}",
        ),
        Row(
            f"&nbsp;&nbsp;event latency seen by 1 of the {crowd}",
            spread(seen),
            target,
            p(seen, 95) * 1000 <= LATENCY_TARGET_MS,
        ),
    ]


if __name__ == "__main__" and sys.argv[1:] == ["subscribe"]:
    env = os.environ
    asyncio.run(_subscribe(env["BENCH_WS_URL"], env["BENCH_WS_TOKEN"], int(env["BENCH_WS_COUNT"])))
