"""Benchmark: the jupyter_server extension under load, on a real `jupyter server` process.

bench/run.py calls `measure()` with its private redis-server and `bumps-remote worker`
running; this module starts a `jupyter server` in shared mode on that Redis and measures

1. POST latency: `POST bumps-remote/api/jobs` of the tiny lm payload, keep-alive session;
2. event latency worker -> WebSocket client: the Redis stream id of each event (the Redis
   server's clock at XADD, ms) against the subscriber's clock when it reads the message;
3. IOLoop lag with many WebSocket subscribers of the owner's event stream while fits run:
   `GET /api/status` (jupyter_server's own, no Redis) timed from outside, with and without
   the subscribers, and the subscribers' event latencies meanwhile;
4. a REST check: every Redis-backed REST route with many idle subscribers open (503s?).

The WebSocket subscribers run in child processes (`python bench/server.py subscribe`,
tornado's websocket client), so that reading hundreds of sockets does not stall the probes'
clock in this process. A child reads its settings from the environment and stops when its
stdin closes; it prints one JSON line when every socket is open and one with what it
received. `python bench/server.py [--quick]` runs these measurements alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for path in (REPO, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import services  # noqa: E402

EVENT_LATENCY_TARGET_MS = 20.0  # p95, worker -> WebSocket client
LAG_TARGET_MS = 20.0  # IOLoop lag at 200 subscribers
PROBE_GAP = 0.01  # seconds between two probes
PROBE_WINDOW_MAX = 30.0  # seconds: a window ends after its probes or this long, if sooner
POOL_CHECK_GETS = 10
CONNECT_CONCURRENCY = 20  # WebSocket handshakes in flight at once in the child
SETTLE = 1.0  # seconds after the subscribers are ready, before probing
BASELINE = BENCH / "baseline" / "server-c4d8116.json"  # the figures before the EventHub
MISSING_MARGIN_MS = 2000  # events older than this at the end must have reached every socket
JOB_TIMEOUT = 120.0
CHILD_TIMEOUT = 120.0
# The load's model sleeps per evaluation (the tests' slow_gaussian): the fits emit progress
# events at the usual pace but leave the 2 CPUs to the server, as workers on other machines
# would. A dream step is 30 evaluations: about 40 ms.
SLOW_MODEL = {"model": "slow_gaussian", "DELAY": 0.001}


@dataclass(frozen=True)
class ServerPlan:
    post_runs: int
    post_warmup: int
    event_jobs: int  # slow dream jobs of `event_steps` whose events are timed
    event_steps: int
    probes: int  # GET /api/status per window
    subscribers: tuple[int, ...]  # one load window per count
    pool_counts: tuple[int, ...]  # idle subscribers open during each REST check


SERVER_FULL = ServerPlan(
    post_runs=200,
    post_warmup=5,
    event_jobs=12,
    event_steps=25,
    probes=300,
    subscribers=(50, 100, 200),
    pool_counts=(99, 100, 150, 200),
)
SERVER_QUICK = ServerPlan(
    post_runs=30,
    post_warmup=3,
    event_jobs=4,
    event_steps=15,
    probes=60,
    subscribers=(50,),
    pool_counts=(150,),
)
LOAD_OPTIONS = {"steps": 100_000, "burn": 0}  # cancelled when the windows are over
EVENT_OPTIONS = {"burn": 0}


# -- subscriber process -----------------------------------------------------------------------


async def _subscribe(url: str, token: str, count: int) -> None:
    """Open `count` WebSockets on `url`, print a ready line, record every message until stdin
    closes, then print what each socket received: [[stream id, receive time ms], ...]."""
    from tornado import httpclient, websocket

    headers = {"Authorization": f"token {token}"}
    slots = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect():
        async with slots:
            request = httpclient.HTTPRequest(
                url, headers=headers, connect_timeout=10, request_timeout=30
            )
            return await websocket.websocket_connect(request, ping_interval=None)

    started = time.perf_counter()
    opened = await asyncio.gather(*(connect() for _ in range(count)), return_exceptions=True)
    sockets = [s for s in opened if not isinstance(s, BaseException)]
    errors = [repr(e) for e in opened if isinstance(e, BaseException)]
    received: list[list] = [[] for _ in sockets]
    events: dict[str, list] = {}
    closed = [False] * len(sockets)

    async def read(i, ws):
        while True:
            message = await ws.read_message()
            now = time.time() * 1000
            if message is None:
                closed[i] = True
                return
            event = json.loads(message)
            received[i].append([event["id"], now])
            if event["id"] not in events:
                data = event.get("data") or {}
                events[event["id"]] = [event["type"], data.get("status"), data.get("job")]

    readers = [asyncio.ensure_future(read(i, ws)) for i, ws in enumerate(sockets)]
    _emit({"ready": len(sockets), "errors": errors[:3], "failed": len(errors),
           "connect_s": time.perf_counter() - started, "ready_ms": time.time() * 1000})  # fmt: skip
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    finally:
        stop_ms = time.time() * 1000
        closed_early = sum(closed)
        for ws in sockets:
            ws.close()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    _emit(
        {"received": received, "events": events, "closed_early": closed_early, "stop_ms": stop_ms}
    )


def _emit(line: dict) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def subscriber_main() -> int:
    url, token = os.environ["BENCH_WS_URL"], os.environ["BENCH_WS_TOKEN"]
    asyncio.run(_subscribe(url, token, int(os.environ["BENCH_WS_COUNT"])))
    return 0


class Subscribers:
    """The subscriber child process, seen from here: start, wait until every socket is
    open, stop and collect. Always `close()` it (also on error)."""

    def __init__(self, server, count: int, since: str, path: str = "events"):
        ws_url = "ws" + server.url[len("http") :] + f"bumps-remote/api/{path}?since={since}"
        self.env = {
            **os.environ,
            "BENCH_WS_URL": ws_url,
            "BENCH_WS_TOKEN": server.token,
            "BENCH_WS_COUNT": str(count),
        }
        self.count = count
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.ready: dict = {}

    def start(self) -> Subscribers:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__)), "subscribe"],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        self.ready = self._line("ready")
        if self.ready["ready"] != self.count:
            raise RuntimeError(
                f"{self.ready['failed']} of {self.count} WebSockets did not open: "
                f"{self.ready['errors']}"
            )
        return self

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _line(self, what: str) -> dict:
        try:
            line = self.lines.get(timeout=CHILD_TIMEOUT)
        except queue.Empty:
            raise RuntimeError(f"the subscriber process said nothing ({what})") from None
        if line is None:
            raise RuntimeError(f"the subscriber process ended before {what}")
        return json.loads(line)

    def stop(self) -> dict:
        self.process.stdin.close()
        result = self._line("its result")
        self.process.wait(30)
        return result

    def close(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.process.stdin.close()
            self.process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(5)


# -- helpers ------------------------------------------------------------------------------------


def stream_ms(event_id: str) -> int:
    """The Redis server's clock (ms) when the event was added to its stream."""
    return int(event_id.split("-")[0])


def latencies(received: list[list]) -> list[float]:
    return [now - stream_ms(event_id) for event_id, now in received]


def last_id(store, owner: str) -> str:
    newest = store.redis.xrevrange(store.keys.owner_events(owner), count=1)
    if not newest:
        return "0"
    event_id = newest[0][0]
    return event_id.decode() if isinstance(event_id, bytes) else event_id


def wait_terminal(store, owner: str, job_id: str, timeout: float = JOB_TIMEOUT) -> dict:
    """Block on the job's event stream (XREAD) until its record is terminal."""
    from jupyter_bumps_remote import jobs

    stream = store.keys.events(owner, job_id)
    since = "0"
    deadline = time.monotonic() + timeout
    while True:
        record = store.get(owner, job_id)
        if record["status"] in jobs.TERMINAL:
            return record
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"job {job_id} still {record['status']} after {timeout} s")
        found = store.wait_events({stream: since}, block_ms=int(min(remaining, 1) * 1000))
        for event in found.get(stream, []):
            since = event["id"]


def wait_running(store, owner: str, job_ids: list[str], timeout: float = JOB_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while any(store.get(owner, j)["status"] != "running" for j in job_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"load jobs not all running after {timeout} s")
        time.sleep(0.05)


class Api:
    """A keep-alive `requests` session on the server, token in a header."""

    def __init__(self, server):
        import requests

        self.server = server
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or netrc look-ups per request
        self.session.headers.update(server.headers)

    def post_job(self, payload: dict, fitter: str, options: dict | None = None) -> dict:
        response = self.session.post(
            self.server.url + "bumps-remote/api/jobs",
            json={"payload": payload, "fitter": fitter, "options": options or {}},
            timeout=30,
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST jobs: {response.status_code} {response.text[:300]}")
        return response.json()

    def cancel(self, job_id: str) -> None:
        url = self.server.url + f"bumps-remote/api/jobs/{job_id}/cancel"
        for _ in range(10):  # a 503 (Redis busy or away) is retried
            response = self.session.post(url, timeout=30)
            if response.status_code in (200, 409):  # 409: already over
                return
            time.sleep(0.5)
        raise RuntimeError(f"cancel {job_id}: {response.status_code} {response.text[:300]}")

    def close(self) -> None:
        self.session.close()


def probe(api: Api, count: int, job_id: str) -> dict:
    """`count` timed `GET /api/status` (jupyter_server's, no Redis), PROBE_GAP apart, for
    PROBE_WINDOW_MAX s at most; every 5th probe also a `GET bumps-remote/api/jobs/{id}` (one
    HGETALL), with its status code."""
    status_url = api.server.url + "api/status"
    job_url = api.server.url + f"bumps-remote/api/jobs/{job_id}"
    status, job, codes = [], [], {}
    deadline = time.monotonic() + PROBE_WINDOW_MAX
    for i in range(count):
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter()
        response = api.session.get(status_url, timeout=30)
        status.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise RuntimeError(f"GET /api/status: {response.status_code}")
        if i % 5 == 4:
            t0 = time.perf_counter()
            response = api.session.get(job_url, timeout=30)
            job.append(time.perf_counter() - t0)
            codes[response.status_code] = codes.get(response.status_code, 0) + 1
        time.sleep(PROBE_GAP)
    return {"status": status, "job": job, "codes": codes}


# -- measurements -------------------------------------------------------------------------------


def post_latency(api: Api, store, plan: ServerPlan) -> tuple[list[float], str, str]:
    """POST the tiny lm payload; each job runs to its end before the next POST, so each
    request meets an idle server. Returns the times, the owner and one finished job id."""
    from jupyter_bumps_remote import transport
    from tests.support.problems import gaussian_problem

    payload = transport.encode(gaussian_problem())
    times, owner, job_id = [], "", ""
    for i in range(plan.post_warmup + plan.post_runs):
        t0 = time.perf_counter()
        record = api.post_job(payload, "lm")
        elapsed = time.perf_counter() - t0
        owner, job_id = record["owner"], record["id"]
        if i >= plan.post_warmup:
            times.append(elapsed)
        final = wait_terminal(store, owner, job_id)
        if final["status"] != "succeeded":
            raise RuntimeError(f"lm job {job_id} ended {final['status']}: {final.get('error')}")
    return times, owner, job_id


def event_latency(api: Api, store, owner: str, plan: ServerPlan) -> dict:
    """One subscriber on the owner stream; `event_jobs` slow dream jobs submitted at once
    (2 run at a time); every event of theirs, timed."""
    from jupyter_bumps_remote import transport
    from tests.support.problems import gaussian_problem

    payload = transport.encode(gaussian_problem(**SLOW_MODEL))
    options = {**EVENT_OPTIONS, "steps": plan.event_steps}
    subscribers = Subscribers(api.server, 1, last_id(store, owner))
    try:
        subscribers.start()
        ids = [api.post_job(payload, "dream", options)["id"] for _ in range(plan.event_jobs)]
        for job_id in ids:
            final = wait_terminal(store, owner, job_id)
            if final["status"] != "succeeded":
                raise RuntimeError(f"dream job {job_id} ended {final['status']}")
        time.sleep(0.5)  # the last events on their way
        result = subscribers.stop()
    finally:
        subscribers.close()
    ours = set(ids)
    rows = []
    for event_id, now in result["received"][0]:
        kind, status, job = result["events"][event_id]
        if job in ours:
            rows.append(
                {"id": event_id, "type": kind, "status": status, "ms": now - stream_ms(event_id)}
            )
    statuses = [r for r in rows if r["type"] == "status"]
    if len(statuses) != 3 * len(ids):  # queued, running, succeeded
        raise RuntimeError(f"{len(statuses)} status events for {len(ids)} jobs, expected 3 each")
    return {"events": rows, "jobs": len(ids)}


def ioloop_lag(api: Api, store, owner: str, job_id: str, plan: ServerPlan) -> dict:
    """Probe windows: idle; 2 slow dream fits running (events flowing), no subscriber; the
    same with each count of subscribers on the owner stream."""
    from jupyter_bumps_remote import transport
    from tests.support.problems import gaussian_problem

    windows = {"idle": probe(api, plan.probes, job_id)}
    payload = transport.encode(gaussian_problem(**SLOW_MODEL))
    load = []
    try:
        load = [api.post_job(payload, "dream", LOAD_OPTIONS)["id"] for _ in range(2)]
        wait_running(store, owner, load)
        time.sleep(SETTLE)
        windows["load"] = probe(api, plan.probes, job_id)
        for count in plan.subscribers:
            print(f"server: {count} WebSocket subscribers", file=sys.stderr)
            windows[count] = subscribed_window(api, store, owner, job_id, count, plan)
        still = [store.get(owner, j)["status"] for j in load]
        if still != ["running", "running"]:
            raise RuntimeError(f"the load jobs ended during the windows: {still}")
    finally:
        for job in load:
            api.cancel(job)
        for job in load:
            wait_terminal(store, owner, job)
    return windows


def subscribed_window(api: Api, store, owner: str, job_id: str, count: int, plan) -> dict:
    """`count` subscribers on the owner stream: one alone in its process (the observer: its
    latencies are the server's, hardly its client's), `count - 1` in another; then probes."""
    since = last_id(store, owner)
    observer = Subscribers(api.server, 1, since)
    crowd = Subscribers(api.server, count - 1, since)
    try:
        observer.start()
        crowd.start()
        time.sleep(SETTLE)
        window = probe(api, plan.probes, job_id)
        seen = [observer.stop(), crowd.stop()]
    finally:
        observer.close()
        crowd.close()
    ready_ms = max(observer.ready["ready_ms"], crowd.ready["ready_ms"])
    result = {
        "received": seen[0]["received"] + seen[1]["received"],
        "stop_ms": [min(r["stop_ms"] for r in seen), max(r["stop_ms"] for r in seen)],
        "closed_early": sum(r["closed_early"] for r in seen),
    }
    window.update(delivery(store, owner, since, ready_ms, result))
    alone = seen[0]["received"][0]
    window["observer"] = latencies([(i, now) for i, now in alone if stream_ms(i) >= ready_ms])
    window["connect_s"] = crowd.ready["connect_s"]
    return window


def delivery(store, owner: str, since: str, ready_ms: float, result: dict) -> dict:
    """What the subscribers got of the events added to the owner stream while they were all
    open (what came before is replay: left out)."""
    from jupyter_bumps_remote.store import decode_events

    stream = store.keys.owner_events(owner)
    first_stop, stop_ms = result["stop_ms"]  # the two processes stop one after the other
    emitted = [
        e["id"]
        for e in decode_events(
            store.redis.xrange(stream, f"({since}" if since != "0" else "-", "+")
        )
        if ready_ms <= stream_ms(e["id"]) <= stop_ms
    ]
    due = {i for i in emitted if stream_ms(i) <= first_stop - MISSING_MARGIN_MS}
    sockets = [
        [(i, now) for i, now in socket if stream_ms(i) >= ready_ms] for socket in result["received"]
    ]
    missing = [len(due - {i for i, _ in socket}) for socket in sockets]
    first, last = {}, {}
    for socket in sockets:
        for i, now in socket:
            first[i] = min(first.get(i, now), now)
            last[i] = max(last.get(i, now), now)
    return {
        "emitted": len(emitted),
        "events_per_s": len(emitted) / ((stop_ms - ready_ms) / 1000),
        "messages": sum(len(socket) for socket in sockets),
        "latency": [ms for socket in sockets for ms in latencies(socket)],
        "first": [first[i] - stream_ms(i) for i in first],
        "last": [last[i] - stream_ms(i) for i in last],
        "seen": len(first),
        "due": len(due),
        "sockets_missing": sum(1 for m in missing if m),
        "missing": sum(missing),
        "closed_early": result["closed_early"],
    }


REST_CHECK_ROUTES = ("GET info", "GET jobs", "GET jobs/{id}", "GET jobs/{id}/result",
                     "GET workers", "POST jobs")  # fmt: skip


def rest_check(api: Api, store, owner: str, job_id: str, plan: ServerPlan) -> dict:
    """No fit running: with each count of idle subscribers open on the owner stream,
    POOL_CHECK_GETS rounds of every Redis-backed REST route above (the POST submits a tiny
    lm fit, run to its end before the next round); status codes per route, times, and the
    message of a refusal."""
    from jupyter_bumps_remote import transport
    from tests.support.problems import gaussian_problem

    payload = transport.encode(gaussian_problem())
    base = api.server.url + "bumps-remote/api/"
    gets = {
        "GET info": base + "info",
        "GET jobs": base + "jobs?limit=20",
        "GET jobs/{id}": base + f"jobs/{job_id}",
        "GET jobs/{id}/result": base + f"jobs/{job_id}/result",
        "GET workers": base + "workers",
    }
    body = {"payload": payload, "fitter": "lm", "options": {}}
    out = {}
    for count in plan.pool_counts:
        subscribers = Subscribers(api.server, count, last_id(store, owner))
        codes = {route: {} for route in REST_CHECK_ROUTES}
        times, message = [], ""
        try:
            subscribers.start()
            time.sleep(SETTLE)
            for _ in range(POOL_CHECK_GETS):
                for route in REST_CHECK_ROUTES:
                    t0 = time.perf_counter()
                    if route == "POST jobs":
                        response = api.session.post(base + "jobs", json=body, timeout=30)
                    else:
                        response = api.session.get(gets[route], timeout=30)
                    times.append(time.perf_counter() - t0)
                    code = response.status_code
                    codes[route][code] = codes[route].get(code, 0) + 1
                    if code >= 400:
                        message = response.json().get("message", response.text[:200])
                    elif route == "POST jobs":
                        wait_terminal(store, owner, response.json()["id"])
        finally:
            subscribers.close()
        out[count] = {"codes": codes, "times": times, "message": message}
        time.sleep(SETTLE)
    return out


def measure(plan: ServerPlan, redis_url: str, store) -> dict:
    """Start a `jupyter server` in shared mode on `redis_url` (a worker must serve it), run the
    three measurements, stop the server. Returns the raw figures."""
    api = None
    try:
        with services.jupyter_server(redis_url, prefix="bumps-remote-bench-server-") as server:
            api = Api(server)
            print(f"server: {plan.post_runs} POST jobs", file=sys.stderr)
            post, owner, job_id = post_latency(api, store, plan)
            print(f"server: event latency, {plan.event_jobs} jobs", file=sys.stderr)
            events = event_latency(api, store, owner, plan)
            print(f"server: IOLoop lag, {plan.probes} probes per window", file=sys.stderr)
            lag = ioloop_lag(api, store, owner, job_id, plan)
            counts = ", ".join(map(str, plan.pool_counts))
            print(f"server: REST with {counts} idle subscribers", file=sys.stderr)
            pool = rest_check(api, store, owner, job_id, plan)
    finally:
        if api is not None:
            api.close()
    return {"post": post, "events": events, "lag": lag, "pool": pool}


# -- report -------------------------------------------------------------------------------------


def _pct(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def _p50_p95(values) -> list[float]:
    return [_pct(values, 50), _pct(values, 95)]


def figures(raw: dict) -> dict:
    rows = raw["events"]["events"]
    lag = raw["lag"]
    windows = {}
    for key, window in lag.items():
        entry = {
            "status": _p50_p95([s * 1000 for s in window["status"]]),
            "job": _p50_p95([s * 1000 for s in window["job"]]),
            "codes": window["codes"],
            "probes": len(window["status"]),
        }
        if "latency" in window:
            entry.update(
                observer=_p50_p95(window["observer"]),
                observer_max=max(window["observer"], default=float("nan")),
                observer_n=len(window["observer"]),
                latency=_p50_p95(window["latency"]),
                first=_p50_p95(window["first"]),
                last=_p50_p95(window["last"]),
                max_latency=max(window["latency"], default=float("nan")),
                **{
                    k: window[k]
                    for k in (
                        "emitted",
                        "events_per_s",
                        "messages",
                        "seen",
                        "due",
                        "sockets_missing",
                        "missing",
                        "closed_early",
                        "connect_s",
                    )
                },  # fmt: skip
            )
        windows[str(key)] = entry
    base = windows["load"]["status"]
    for key, entry in windows.items():
        if key not in ("idle", "load"):
            entry["lag"] = [entry["status"][0] - base[0], entry["status"][1] - base[1]]
    return {
        "post": _p50_p95([s * 1000 for s in raw["post"]]),
        "post_runs": len(raw["post"]),
        "events": {
            "all": _p50_p95([r["ms"] for r in rows]),
            "status": _p50_p95([r["ms"] for r in rows if r["type"] == "status"]),
            "progress": _p50_p95([r["ms"] for r in rows if r["type"] == "progress"]),
            "max": max((r["ms"] for r in rows), default=float("nan")),
            "count": len(rows),
            "status_count": sum(1 for r in rows if r["type"] == "status"),
            "jobs": raw["events"]["jobs"],
        },
        "windows": windows,
        "pool": {
            str(count): {
                "codes": check["codes"],
                "all": _sum_codes(check["codes"]),
                "time": _p50_p95([s * 1000 for s in check["times"]]),
                "message": check["message"],
            }
            for count, check in raw["pool"].items()
        },
    }


def _sum_codes(per_route: dict) -> dict:
    total: dict = {}
    for codes in per_route.values():
        for code, n in codes.items():
            total[str(code)] = total.get(str(code), 0) + n
    return total


def load_baseline(path: Path = BASELINE) -> dict | None:
    """The figures of the run before the EventHub, in the shape `figures()` gives now."""
    if not path.exists():
        return None
    baseline = json.loads(path.read_text())
    f = baseline["figures"]
    for check in f["pool"].values():  # then: codes of GET jobs/{id} only, no times
        if "all" not in check:
            check["all"] = dict(check["codes"])
            check["codes"] = {"GET jobs/{id}": check["codes"]}
    return baseline


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _verdict(value: float, target: float) -> str:
    return f"≤ {target:.0f} ms: **met**" if value <= target else f"≤ {target:.0f} ms: **missed**"


def _met(value: float, target: float) -> str:
    return "**met**" if value <= target else "**missed**"


def _rows(f: dict, subscribers, pool_counts) -> list[tuple]:
    """(id, label, n, [p50, p95] or None, target ms for the p95 or None, note) per row."""
    ev, w = f["events"], f["windows"]
    indent = "&nbsp;&nbsp;"
    rows = [
        ("post", "`POST bumps-remote/api/jobs`, tiny lm payload, idle server", f["post_runs"],
         f["post"], None, ""),
        ("events", "**event latency** worker → WebSocket client, 1 subscriber, owner stream, "
         f"{ev['jobs']} jobs", ev["count"], ev["all"], EVENT_LATENCY_TARGET_MS,
         f"max {_ms(ev['max'])}"),
        ("events.status", f"{indent}status events", ev["status_count"], ev["status"], None, ""),
        ("events.progress", f"{indent}progress events", ev["count"] - ev["status_count"],
         ev["progress"], None, ""),
        ("idle", "`GET /api/status`, idle server", w["idle"]["probes"], w["idle"]["status"],
         None, ""),
        ("load", "`GET /api/status`, 2 fits running, no subscriber", w["load"]["probes"],
         w["load"]["status"], None, ""),
    ]  # fmt: skip
    for count in subscribers:
        e = w.get(str(count))
        if e is None:
            continue
        missing = (
            f"{e['sockets_missing']} sockets short of {e['missing']} events"
            if e["missing"]
            else "none short"
        )
        rows += [
            (f"{count}", f"`GET /api/status`, 2 fits running, **{count} subscribers**",
             e["probes"], e["status"], None, ""),
            (f"{count}.lag", f"{indent}**IOLoop lag** (− the same without subscribers)", "",
             e["lag"], LAG_TARGET_MS if count >= 200 else None,
             "" if count >= 200 else f"(target is for 200: ≤ {LAG_TARGET_MS:.0f} ms)"),
            (f"{count}.observer",
             f"{indent}event latency seen by 1 of them, alone in its client process",
             e["observer_n"], e["observer"], EVENT_LATENCY_TARGET_MS,
             f"max {_ms(e['observer_max'])}"),
            (f"{count}.latency",
             f"{indent}event latency, every message of every socket (client included)",
             e["messages"], e["latency"], None, f"max {_ms(e['max_latency'])}"),
            (f"{count}.first", f"{indent}{indent}an event reaches its first socket", e["seen"],
             e["first"], None, ""),
            (f"{count}.last", f"{indent}{indent}… and its last socket", e["seen"], e["last"],
             None, f"events > {MISSING_MARGIN_MS / 1000:.0f} s old at the end: {missing}"),
            (f"{count}.job", f"{indent}`GET bumps-remote/api/jobs/{{id}}` (one Redis read)",
             sum(e["codes"].values()), e["job"], None, _codes(e["codes"])),
        ]  # fmt: skip
    for count in pool_counts:
        check = f["pool"].get(str(count))
        if check is None:
            continue
        rows.append(
            (f"pool.{count}", f"Redis-backed REST calls, no fit running, **{count} idle "
             "subscribers**", sum(check["all"].values()), check.get("time"), None,
             _codes(check["all"]))
        )  # fmt: skip
    return rows


def table(plan: ServerPlan, f: dict, before: dict | None = None) -> str:
    """Before (a baseline's figures) and after (this run's), side by side."""
    after_rows = _rows(f, plan.subscribers, plan.pool_counts)
    if before is None:
        lines = ["| Measure | N | p50 | p95 | Target, note |", "| --- | ---: | ---: | ---: | --- |"]
        for _, label, n, values, target, note in after_rows:
            p50, p95 = map(_ms, values) if values else ("", "")
            if target is not None:
                note = f"p95 {_verdict(values[1], target)}" + (f"; {note}" if note else "")
            lines.append(f"| {label} | {n} | {p50} | {p95} | {note} |")
        return "\n".join(lines)
    bf = before["figures"]
    before_counts = tuple(int(c) for c in bf["windows"] if c not in ("idle", "load"))
    before_pool = tuple(int(c) for c in bf["pool"])
    old = {row[0]: row for row in _rows(bf, before_counts, before_pool)}
    lines = [
        "| Measure | Before: N | p50 | p95 | After (EventHub): N | p50 | p95 | Target, note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, label, n, values, target, note in after_rows:
        was = old.get(key)
        b_n, b_p50, b_p95 = ("", "—", "—") if was is None else (was[2], "—", "—")
        if was is not None and was[3]:
            b_p50, b_p95 = map(_ms, was[3])
        p50, p95 = map(_ms, values) if values else ("—", "—")
        parts = []
        if target is not None:
            then = f"before {_met(was[3][1], target)}, " if was is not None else ""
            parts.append(f"p95 ≤ {target:.0f} ms: {then}after {_met(values[1], target)}")
        if note and was is not None and was[5] and was[5] != note:
            parts.append(f"before: {was[5]}; after: {note}")
        elif note:
            parts.append(note)
        lines.append(
            f"| {label} | {b_n} | {b_p50} | {b_p95} | {n} | {p50} | {p95} | {'; '.join(parts)} |"
        )
    return "\n".join(lines)


def _codes(codes: dict) -> str:
    bad = {k: v for k, v in codes.items() if str(k) != "200" and str(k) != "201"}
    if not bad:
        return "no error"
    return ", ".join(f"{v}× **{k}**" for k, v in sorted(bad.items()))


def pool_max_connections() -> int:
    """The default size of a redis.asyncio pool, as the server's `Redis.from_url` gets it."""
    import redis.asyncio

    return redis.asyncio.ConnectionPool().max_connections


def _then(before: dict | None, path: tuple, index: int | None = None) -> str:
    """` (before: X)` from the baseline's figures, if it has them."""
    if before is None:
        return ""
    value = before["figures"]
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return ""
        value = value[key]
    if index is not None:
        value = value[index]
    return f" (before: {_ms(value)})"


def notes(plan: ServerPlan, f: dict, before: dict | None = None) -> str:
    ev, w = f["events"], f["windows"]
    idle, load = w["idle"]["status"], w["load"]["status"]
    lines = [
        f"- `POST bumps-remote/api/jobs` answers in {_ms(f['post'][0])} (p50; p95 "
        f"{_ms(f['post'][1])}){_then(before, ('post',), 0)}; jupyter_server's own "
        f"`GET /api/status` takes {_ms(idle[0])} on the same idle server, so validating, "
        f"storing and queueing a job costs about {_ms(f['post'][0] - idle[0])} (record, "
        "payload and index in Redis, Celery `send_task` in a thread, a SCAN of the workers "
        "for `waiting_reason`).",
        f"- Event latency with one subscriber: p95 {_ms(ev['all'][1])}"
        f"{_then(before, ('events', 'all'), 1)} against a target of "
        f"{EVENT_LATENCY_TARGET_MS:.0f} ms: {_met(ev['all'][1], EVENT_LATENCY_TARGET_MS)} "
        f"(max {_ms(ev['max'])}; {ev['count']} events of {ev['jobs']} jobs). Stream ids have "
        "1 ms resolution, so each figure may read up to 1 ms high.",
        f"- With 2 fits running and no subscriber, `GET /api/status` takes {_ms(load[0])} / "
        f"{_ms(load[1])} (p50 / p95) against {_ms(idle[0])} / {_ms(idle[1])} idle: what the "
        "event flow and the machine's load cost before any subscriber.",
    ]
    for count in plan.subscribers:
        e = w[str(count)]
        verdict = ""
        if count >= 200:
            verdict = (
                f" Target ≤ {LAG_TARGET_MS:.0f} ms (p95) at 200 subscribers: "
                f"{_met(e['lag'][1], LAG_TARGET_MS)}"
                + (
                    f" (before: {_ms(before['figures']['windows']['200']['lag'][1])}, "
                    f"{_met(before['figures']['windows']['200']['lag'][1], LAG_TARGET_MS)})."
                    if before and "200" in before["figures"]["windows"]
                    else "."
                )
            )
        window = ("windows", str(count))
        lines.append(
            f"- **{count} subscribers** (opened in {e['connect_s']:.1f} s): IOLoop lag "
            f"{_ms(e['lag'][0])} p50, {_ms(e['lag'][1])} p95"
            f"{_then(before, (*window, 'lag'), 1).replace(')', ' p95)')}.{verdict} The owner "
            f"stream got {e['emitted']} events ({e['events_per_s']:.0f}/s), {e['messages']:,} "
            f"messages reached the sockets. The subscriber alone in its client process got its "
            f"events {_ms(e['observer'][0])} (p50), {_ms(e['observer'][1])} (p95"
            f"{_then(before, (*window, 'observer'), 1).replace(' (', '; ').replace(')', '')}) "
            f"after the worker sent them ({_verdict(e['observer'][1], EVENT_LATENCY_TARGET_MS)}); "
            f"an event reached its last socket after {_ms(e['last'][0])} (p50), "
            f"{_ms(e['last'][1])} (p95); worst message {_ms(e['max_latency'])}. "
            + (
                f"{e['sockets_missing']} sockets had still not received {e['missing']} events "
                f"more than {MISSING_MARGIN_MS / 1000:.0f} s old when they closed (late, not "
                "lost: each socket goes on from its last id). "
                if e["missing"]
                else f"Every socket had every event older than {MISSING_MARGIN_MS / 1000:.0f} s. "
            )
            + (
                f"`GET bumps-remote/api/jobs/{{id}}` meanwhile: {_codes(e['codes'])}."
                if e["codes"]
                else ""
            )
        )
    lines += [
        "- What changed: before, each WebSocket ran its own loop in the server (an `XRANGE` "
        "from its last id, then a blocking `XREAD BLOCK 5000` on a pooled connection of its "
        "own), so every event woke N `XREAD`s, each parsed its reply, serialized and wrote "
        "its message and issued a new `XRANGE` and `XREAD`: N times the Redis round trips "
        "and Python work of one, on the one IOLoop that also serves the REST API. Now one "
        "`EventHub` per server (`server_ext/event_hub.py`) reads every stream that has "
        "subscribers in a single `XREAD` on its own connection, serializes each event once "
        "and hands the text to the subscribers of its stream: per event, one Redis reply "
        "and N `write_message` calls.",
        *_left_note(plan, f),
        _pool_note(f["pool"], before),
        "- How it is measured: the subscribers live in child processes (tornado's WebSocket "
        "client): one alone in its process, whose latencies are the server's, and N − 1 in "
        "another, whose own reading of every socket is part of the other latencies. They "
        "share the 2 CPUs with the server, Redis, the worker and whatever else runs on the "
        "machine (see the load average below). IOLoop lag is the p50 (p95) of `GET /api/status` "
        "with the subscribers minus the p50 (p95) with the same fits running and none. Events "
        "sent before every socket was open (replayed from `since`) are left out.",
    ]
    return "\n".join(lines)


def _left_note(plan: ServerPlan, f: dict) -> list[str]:
    """What may still cost at the largest subscriber count, if its lag target is missed."""
    count = max(plan.subscribers)
    e = f["windows"][str(count)]
    if count < 200 or e["lag"][1] <= LAG_TARGET_MS:
        return []
    rate = e["messages"] / max(e["emitted"], 1) * e["events_per_s"]
    return [
        f"- What is left at {count} subscribers (not profiled): the hub writes each event to "
        f"every socket in one synchronous loop (`Subscriber.deliver` → `write_message`: a "
        f"WebSocket frame and a socket write per subscriber, no `await` between them), about "
        f"{rate:,.0f} messages/s here on the one IOLoop that also answers REST; and the "
        f"subscribers' client process, reading the same messages in Python, shares the 2 "
        f"CPUs with the server. The p50 lag ({_ms(e['lag'][0])}) is small; the p95 "
        f"({_ms(e['lag'][1])}) is what misses the target."
    ]


def _pool_note(pool: dict, before: dict | None) -> str:
    size = pool_max_connections()
    parts = []
    for count, check in pool.items():
        text = f"{count}: {_codes(check['all'])}"
        if check["message"]:
            text += f' ("{check["message"]}")'
        parts.append(text)
    failed = any(_codes(check["all"]) != "no error" for check in pool.values())
    text = (
        f"- 503s: with no fit running and N idle WebSockets open on the owner stream, "
        f"{POOL_CHECK_GETS} rounds of every Redis-backed REST route ("
        + ", ".join(f"`{r}`" for r in REST_CHECK_ROUTES)
        + f") answered, by N: {'; '.join(parts)}. "
    )
    text += (
        "So REST calls still fail with many sockets open."
        if failed
        else "No REST call failed: the sockets no longer hold Redis connections (the hub's "
        f"reader has one of its own; redis-py's pool holds at most {size}, redis-py "
        f"{_redis_py_version()}'s default, which the extension keeps)."
    )
    if before is not None:
        then = before["figures"]["pool"]
        was = "; ".join(f"{c}: {_codes(check['all'])}" for c, check in then.items())
        text += (
            f" Before, each open event WebSocket held a pooled connection in its blocking "
            f"`XREAD`; `GET bumps-remote/api/jobs/{{id}}` answered, by N: {was}, and 503s "
            "showed up in the 100 and 200 subscriber windows."
        )
    return text


def _redis_py_version() -> str:
    import redis

    return redis.__version__


def section(plan: ServerPlan, f: dict, before: dict | None = None) -> str:
    """The server section of docs/benchmarks.md."""
    counts = ", ".join(str(c) for c in plan.subscribers)
    pool_counts = ", ".join(str(c) for c in plan.pool_counts)
    routes = ", ".join(f"`{r}`" for r in REST_CHECK_ROUTES)
    columns = ""
    if before is not None:
        m = before["machine"]
        columns = f"""
**{before["label"][:1].upper() + before["label"][1:]}**: the last run before the EventHub, kept in
`bench/baseline/server-c4d8116.json` (run {m["date"]} on commit {m["commit"]}: the same
server code but for WebSocket keep-alive pings; load average {m["loadavg"]} at its start,
{m["loadavg_end"]} at its end; its REST check was `GET bumps-remote/api/jobs/{{id}}` only, with
99 and 100 subscribers, untimed). **After (EventHub)**: this run, with one shared event
reader per server (`server_ext/event_hub.py`). Same machine and plan; the machine's load
differs (below).
"""
    return f"""## Server: REST and WebSockets

The jupyter_server extension as a client meets it: a real `jupyter server` process
(`tests.support.services.JupyterServer`, token auth) in shared mode on the same private Redis,
served by the same `bumps-remote worker`; everything on 127.0.0.1.

- **POST**: `POST bumps-remote/api/jobs` of the tiny lm payload
  (`transport.encode(gaussian_problem())`, 3 kB) on one keep-alive `requests` session; each
  job runs to its end before the next request, so each request meets an idle server.
- **event latency**: a WebSocket on `bumps-remote/api/events` (the owner's stream: status
  events and progress summaries of every job) while {f["events"]["jobs"]} dream fits run, 2 at a
  time. For each event, the client's clock when it reads the message (`time.time()`) minus
  the time in its Redis stream id (the Redis server's clock at `XADD`, ms; same machine).
- **IOLoop lag**: {plan.probes} timed `GET /api/status` (jupyter_server's own handler: no Redis),
  {PROBE_GAP * 1000:.0f} ms apart, per window: idle; 2 dream fits running (events flowing), no
  subscriber; the same with {counts} WebSockets open on the owner stream (a window ends
  after {PROBE_WINDOW_MAX:.0f} s if its probes are not done). Every 5th probe is followed by a
  `GET bumps-remote/api/jobs/{{id}}` (one Redis read), with its status code. In each window
  the subscribers' messages are timed as above.
- **REST check**: no fit running, {pool_counts} idle WebSockets on the owner stream; with
  each, {POOL_CHECK_GETS} rounds of every Redis-backed REST route:
  {routes}
  (the POST submits the tiny lm fit, which runs to its end before the next round); their
  status codes, and the times of all these calls together.

The fits of the IOLoop lag windows and the event latency use the tests' `slow_gaussian` model
(1 ms of sleep per evaluation, about 40 ms per dream step): they send progress events at the
worker's usual pace (at most one per 0.1 s per job) while leaving the CPUs to the server, as
workers on other machines would.
{columns}
{table(plan, f, before)}

{notes(plan, f, before)}
"""


# -- standalone -----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """`python bench/server.py [--quick]`: these measurements alone, with their own Redis and
    worker; prints the table. bench/run.py runs them as part of the whole benchmark."""

    if argv[:1] == ["subscribe"]:
        return subscriber_main()
    from jupyter_bumps_remote.store import JobStore
    from jupyter_bumps_remote.worker.settings import WorkerSettings

    plan = SERVER_QUICK if "--quick" in argv else SERVER_FULL
    services.stop_on_sigterm()
    with services.redis_and_worker(concurrency=2) as (redis_server, _):
        settings = WorkerSettings.from_env({}, redis_url=redis_server.url)
        store = JobStore(redis_server.client(), **settings.store_settings())
        raw = measure(plan, redis_server.url, store)
    f = figures(raw)
    before = load_baseline()
    print(table(plan, f, before))
    print()
    print(notes(plan, f, before))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
