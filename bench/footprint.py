"""Measure: what an idle worker and the server extension hold in memory.

A fresh worker of 2 processes on a queue no job goes to, idle: PSS of every process of its
session (main, pool, fit launcher, spare fit processes), which adds up to what it costs the
machine; its floor, a bare Celery worker with the project's settings and as many pool
processes whose main process made the imports every fit needs before the fork. The floor has
a main and pool processes only (it fits in its pool processes), so the row gives ours by
role too: our main and pool processes against the floor's, like with like, and what the fit
launcher and the spares add. And a `jupyter server` with the extension in shared mode
against one with the extension disabled, each after a few requests.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests
import services
from report import Row, mb

TITLE = "idle footprint"
METHOD = (
    "from /proc/PID/smaps_rollup after 3 s idle (1 s with `--quick`): a fresh worker of 2 "
    "processes on a queue no job goes to, PSS of all the processes of its session, and by "
    "role: the main and pool processes, the fit launcher, the spare fit processes; a bare "
    "Celery worker with the project's settings, 2 processes, the fit's imports made before "
    "the fork (`worker/fit/warm.py`'s modules), the same. The floor has no fit launcher nor "
    "fit process (its pool processes fit): it is compared with our main and pool processes, "
    "as many processes. Like our main process and launcher, it `gc.freeze()`s its warm heap "
    "before the fork (without, a pool process whose cycle collector has made a full pass "
    "had copied much of it: 44.5 and 13.7 MB of their own in one run). A `jupyter server` "
    "with the extension in shared mode and one with "
    "`--ServerApp.jpserver_extensions=jupyter_bumps_remote=False`, RSS and PSS after "
    "`GET api/status`, `api/contents` and, with the extension, `bumps-remote/api/info`, "
    "`jobs`, `workers`."
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
        roles = by_role(worker.process.pid)
        part = {
            role: sum(services.memory(pid)["pss"] for pid in pids) for role, pids in roles.items()
        }
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
            f"{floor['processes']} processes: {mb(floor['pss'])} PSS; ours by role: main + "
            f"{len(roles['pool'])} pool processes {mb(part['main'] + part['pool'])}, fit "
            f"launcher {mb(part['launcher'])}, {len(roles['fit'])} spare fit processes "
            f"{mb(part['fit'])}",
        ),
        Row(
            "idle `jupyter server`: the extension's part (with − without)",
            f"{mb(extension['rss'])} RSS, {mb(extension['pss'])} PSS",
            "",
            None,
            f"with {mb(servers['with']['rss'])}, without {mb(servers['without']['rss'])} RSS",
        ),
    ]


def by_role(leader: int) -> dict[str, list[int]]:
    """The worker's processes by role: its main process, the fit launcher (exec'd by the main
    process), the pool processes (its other children), the fit processes (the launcher's
    children, or a pool process's own where it forked them)."""
    parents = {pid: _parent(pid) for pid in services.session_pids(leader)}
    # (its spares are forks of it: the same command line, the launcher their parent)
    launchers = [pid for pid, ppid in parents.items() if ppid == leader and _is_launcher(pid)]
    pool = [pid for pid, ppid in parents.items() if ppid == leader and pid not in launchers]
    fit = [pid for pid, ppid in parents.items() if ppid in (*launchers, *pool)]
    return {"main": [leader], "pool": pool, "launcher": launchers, "fit": fit}


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _is_launcher(pid: int) -> bool:
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return b"jupyter_bumps_remote.worker.fit.launcher" in command
