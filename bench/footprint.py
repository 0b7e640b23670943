"""Measure: what an idle worker and the server extension hold in memory.

A fresh worker of 2 processes on a queue no job goes to, idle: PSS of every process of its
session (main, pool, spare fit processes), which adds up to what it costs the machine; its
floor, a bare Celery worker with the project's settings and as many processes whose main
process made the imports every fit needs before the fork. And a `jupyter server` with the
extension in shared mode against one with the extension disabled, each after a few requests.
"""

from __future__ import annotations

import time

import requests
import services
from report import Row, mb

TITLE = "idle footprint"
METHOD = (
    "from /proc/PID/smaps_rollup after 3 s idle (1 s with `--quick`): a fresh worker of 2 "
    "processes on a queue no job goes to, PSS of all the processes of its session; a bare "
    "Celery worker with the project's settings, 2 processes, the fit's imports made before "
    "the fork (`worker/warm.py`), the same; a `jupyter server` with the extension in shared "
    "mode and one with `--ServerApp.jpserver_extensions=jupyter_bumps_remote=False`, RSS "
    "and PSS after `GET api/status`, `api/contents` and, with the extension, "
    "`bumps-remote/api/info`, `jobs`, `workers`."
)
WORKER_TARGET_MB = 150.0
DISABLED = "--ServerApp.jpserver_extensions=jupyter_bumps_remote=False"


def measure(base, quick: bool) -> list[Row]:
    settle = 1.0 if quick else 3.0
    url = base.redis.url

    def idle(process) -> dict:
        time.sleep(settle)
        return services.session_memory(process.pid)

    with services.worker(url, 2, queue_prefix="bench-footprint.") as worker:
        ours = idle(worker.process)
    bare = services.BareWorker(url, "bench-warm", concurrency=2, contract=True, warm=True)
    with services.started(bare):
        floor = idle(bare.process)
    servers = {}
    for name, redis_url, args in (("with", url, ()), ("without", None, (DISABLED,))):
        with services.jupyter_server(redis_url, args=args) as server:
            routes = ["api/status", "api/contents"]
            if redis_url:
                routes += [f"bumps-remote/api/{r}" for r in ("info", "jobs", "workers")]
            for route in routes:
                requests.get(
                    server.url + route, headers=server.headers, timeout=30
                ).raise_for_status()
            servers[name] = idle(server.process)
    extension = {k: servers["with"][k] - servers["without"][k] for k in ("rss", "pss")}
    target = WORKER_TARGET_MB * services.MB
    return [
        Row(
            f"idle worker, 2 processes: PSS of its {ours['processes']} processes",
            f"{mb(ours['pss'])} (RSS added up {mb(ours['rss'])})",
            f"≤ {WORKER_TARGET_MB:.0f} MB",
            ours["pss"] <= target,
            f"floor: a bare warm Celery worker with the project's settings, "
            f"{floor['processes']} processes: {mb(floor['pss'])} PSS",
        ),
        Row(
            "idle `jupyter server`: the extension's part (with − without)",
            f"{mb(extension['rss'])} RSS, {mb(extension['pss'])} PSS",
            "",
            None,
            f"with {mb(servers['with']['rss'])}, without {mb(servers['without']['rss'])} RSS",
        ),
    ]
