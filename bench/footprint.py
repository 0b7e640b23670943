"""Benchmark: the idle footprint of the server extension and of a worker.

bench/run.py calls `measure()` with its private redis-server running:

- two `jupyter server` processes, one after the other, idle after a few requests: one with
  the extension in shared mode on the run's Redis, one with the extension disabled
  (`--ServerApp.jpserver_extensions=jupyter_bumps_remote=False`); the difference of their
  RSS (and PSS) is the extension's own part;
- a fresh `bumps-remote worker` with 2 pool processes, on a queue of its own so that it
  gets no job, idle after it said ready: RSS and PSS of its main process and of every
  process of its session (pool processes included).

Memory is read from /proc/PID/smaps_rollup (bench/procfs.py says what RSS and PSS count).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import procfs  # noqa: E402
import services  # noqa: E402

WORKER_TARGET_MB = 150.0  # idle worker, all its processes
DISABLED = "--ServerApp.jpserver_extensions=jupyter_bumps_remote=False"
FOOTPRINT_QUEUE_PREFIX = "bench-footprint."


@dataclass(frozen=True)
class FootprintPlan:
    settle: float  # seconds idle before reading memory
    worker_concurrency: int


FOOTPRINT_FULL = FootprintPlan(settle=3.0, worker_concurrency=2)
FOOTPRINT_QUICK = FootprintPlan(settle=1.0, worker_concurrency=2)


def _idle_server(redis_url: str | None, args: tuple, settle: float) -> dict:
    with services.jupyter_server(
        redis_url, prefix="bumps-remote-bench-footprint-", args=args
    ) as server:
        return server_memory(server, settle, extension=redis_url is not None)


def server_memory(server, settle: float, extension: bool = True) -> dict:
    """Memory of a running `jupyter server` made idle after a few requests: jupyter's own
    routes, and with the extension `info`, `jobs`, `workers`; the native extensions it has
    mapped (bench/procfs.py)."""
    import requests

    at_start = procfs.mapped_packages(server.process.pid)
    routes = ["api/status", "api/contents", "api/kernelspecs"]
    for route in routes:
        requests.get(server.url + route, headers=server.headers, timeout=30).raise_for_status()
    info = requests.get(server.url + "bumps-remote/api/info", headers=server.headers,
                        timeout=30)  # fmt: skip
    if extension:
        info.raise_for_status()
        server.api("GET", "jobs").raise_for_status()
        server.api("GET", "workers").raise_for_status()
    elif info.status_code != 404:
        raise RuntimeError(f"the extension still answers when disabled: {info.status_code}")
    time.sleep(settle)
    memory = procfs.total_memory([server.process.pid])
    memory["packages"] = sorted(procfs.mapped_packages(server.process.pid))
    memory["packages_at_start"] = sorted(at_start)
    return memory


# What the memory is made of: RSS after each import, in a fresh interpreter.
WORKER_IMPORTS = ("celery", "jupyter_bumps_remote.worker.celery_app", "WARM")
SERVER_IMPORTS = ("jupyter_server.serverapp", "redis.asyncio", "celery",
                  "jupyter_bumps_remote.server_ext")  # fmt: skip
HEAVY = ("numpy", "scipy", "h5py", "bumps", "matplotlib", "celery", "kombu", "billiard", "redis",
         "cloudpickle", "pandas", "IPython", "jupyter_server", "tornado")  # fmt: skip

_IMPORT_SCRIPT = """
import importlib, json, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
steps = [('python', rss(), [])]
for name in sys.argv[1:]:
    if name == 'WARM':
        from jupyter_bumps_remote.worker.warm import MODULES
        names = list(MODULES)
    else:
        names = [name]
    before = set(m.split('.')[0] for m in sys.modules)
    for n in names:
        importlib.import_module(n)
    after = set(m.split('.')[0] for m in sys.modules)
    steps.append((name, rss(), sorted(after - before)))
print(json.dumps(steps))
"""


def import_costs(names: tuple[str, ...]) -> list[dict]:
    """RSS of a fresh interpreter after importing each of `names` in turn (WARM: the
    worker's warm-up modules), and the heavy top-level packages each step brought in."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-c", _IMPORT_SCRIPT, *names], capture_output=True,
                         text=True, check=True, cwd=str(services.REPO))  # fmt: skip
    steps = json.loads(out.stdout)
    rows, previous = [], 0
    for name, rss, new in steps:
        heavy = [m for m in new if m in HEAVY]
        rows.append({"step": name, "rss": rss, "added": rss - previous, "heavy": heavy})
        previous = rss
    return rows


def measure(
    plan: FootprintPlan,
    redis_url: str,
    worker_memory: dict | None = None,
    server_memory: dict | None = None,
) -> dict:
    """`worker_memory`, `server_memory`: an idle worker's and an idle server's with the
    extension, already measured (bench/run.py takes them from the scale-out's 2-process
    worker before its first job and from the history's server before its first job); what
    is not given is started and measured here."""
    from throughput import idle_memory

    print("footprint: jupyter server without the extension", file=sys.stderr)
    with_ext = server_memory or _idle_server(redis_url, (), plan.settle)
    without = _idle_server(None, (DISABLED,), plan.settle)
    if worker_memory is None:
        worker = services.Worker(
            redis_url,
            concurrency=plan.worker_concurrency,
            env={"BUMPS_REMOTE_QUEUE_PREFIX": FOOTPRINT_QUEUE_PREFIX},
        )
        with services.started(worker):
            worker_memory = idle_memory(worker, plan.settle)
    return {"server": with_ext, "server_without": without, "worker": worker_memory,
            "bare_warm": bare_warm_memory(redis_url, plan),
            "concurrency": plan.worker_concurrency,
            "worker_imports": import_costs(WORKER_IMPORTS),
            "server_imports": import_costs(SERVER_IMPORTS)}  # fmt: skip


# -- report -----------------------------------------------------------------------------------


def _mb(nbytes: float) -> str:
    return f"{nbytes / procfs.MB:.1f} MB"


def rows(raw: dict) -> list[tuple]:
    s, n, w = raw["server"], raw["server_without"], raw["worker"]
    pss_ok = w["pss"] <= WORKER_TARGET_MB * procfs.MB
    rss_ok = w["rss"] <= WORKER_TARGET_MB * procfs.MB
    return [
        ("**(8) idle `jupyter server`** with the extension (shared mode) / without it: RSS",
         "", f"{_mb(s['rss'])} / {_mb(n['rss'])}",
         f"PSS {_mb(s['pss'])} / {_mb(n['pss'])}",
         f"the extension's own part: {_mb(s['rss'] - n['rss'])} RSS, "
         f"{_mb(s['pss'] - n['pss'])} PSS"),
        (f"**(8) idle `bumps-remote worker`**, {raw['concurrency']} pool processes: PSS of "
         f"all {len(w['processes'])} processes of its session", "", _mb(w["pss"]),
         f"RSS: main {_mb(w['main']['rss'])}, all added up {_mb(w['rss'])}",
         f"≤ {WORKER_TARGET_MB:.0f} MB: PSS {'met' if pss_ok else '**missed**'}; "
         f"RSS added up {'met' if rss_ok else '**missed**'}"),
        ("&nbsp;&nbsp;floor: one fresh interpreter with Celery, the worker's app and the "
         "imports every fit needs (`worker/warm.py`), nothing else", "",
         _mb(warm_floor(raw)), "RSS", "what any worker that keeps bumps warm holds in its "
         "one process"),
        *([(f"&nbsp;&nbsp;floor: a bare Celery worker, {raw['concurrency']} processes, the "
            "project's settings, the same imports in its main process before the pool forks "
            "(no spare fit processes, no code of ours): PSS of all "
            f"{len(raw['bare_warm']['processes'])} processes", "", _mb(raw["bare_warm"]["pss"]),
            f"RSS added up {_mb(raw['bare_warm']['rss'])}",
            "what any warm Celery worker of as many processes costs")]
          if raw.get("bare_warm") else []),
    ]  # fmt: skip


def bare_warm_memory(redis_url: str, plan: FootprintPlan) -> dict:
    """The floor of a warm worker: a bare Celery worker with the project's settings and as
    many processes, whose main process imported what every fit needs (no spares, no code of
    ours), idle: PSS of all its processes."""
    worker = services.BareWorker(redis_url, concurrency=plan.worker_concurrency,
                                 queue="bench-bare-warm", contract=True, warm=True)  # fmt: skip
    with services.started(worker):
        worker.wait_ready()
        time.sleep(plan.settle)
        memory = procfs.total_memory(procfs.session_pids(worker.process.pid))
    return memory


def warm_floor(raw: dict) -> float:
    """RSS of a fresh interpreter after the worker's imports (the last import step)."""
    return raw["worker_imports"][-1]["rss"]


def worker_floor(raw: dict) -> float:
    """PSS of the bare warm Celery worker when measured, else the one-interpreter floor."""
    return raw["bare_warm"]["pss"] if raw.get("bare_warm") else warm_floor(raw)


def _steps(rows: list[dict]) -> str:
    parts = []
    for row in rows[1:]:
        heavy = f" ({', '.join(row['heavy'])})" if row["heavy"] else ""
        name = {"WARM": "the worker's warm-up imports (`worker/warm.py`)"}.get(
            row["step"], f"`{row['step']}`"
        )
        parts.append(f"{name} +{_mb(row['added'])}{heavy}")
    return f"python itself {_mb(rows[0]['rss'])}, then " + ", ".join(parts)


def _packages(raw: dict) -> str:
    extra = sorted(set(raw["server"]["packages"]) - set(raw["server_without"]["packages"]))
    if not extra:
        return "none"
    late = [p for p in extra if p not in raw["server"].get("packages_at_start", extra)]
    when = f" ({', '.join(late)} only after the first requests)" if late else ""
    return ", ".join(extra) + when


def notes(raw: dict) -> list[str]:
    w = raw["worker"]
    each = ", ".join(_mb(m["rss"]) for m in w["processes"].values())
    pss_ok = w["pss"] <= WORKER_TARGET_MB * procfs.MB
    return [
        f"- (8) What the memory is made of, RSS after each import in a fresh interpreter "
        f"(`footprint.import_costs`): worker: {_steps(raw['worker_imports'])}; server: "
        f"{_steps(raw['server_imports'])}. Native extensions mapped by the idle server with "
        f"the extension and not without it: {_packages(raw)}. "
        + (
            "The worker's idle memory is its imports: the main process imports what every "
            "fit needs before the pool forks (so that each fit starts warm), and each pool "
            "process, and each spare fit process a pool process keeps ready "
            "(`worker/spare.py`), adds the pages it touches after its fork."
            if not pss_ok
            else ""
        ),
        f"- (8) The floor: one interpreter that imported Celery and what every fit needs "
        f"holds {_mb(warm_floor(raw))} (RSS) by itself; ARCHITECTURE.md asks for a warm "
        f"process (importing bumps.fitters costs about a second per fit otherwise), and "
        f"bumps.fitters alone brings scipy.optimize and h5py with it. "
        + (
            f"So a warm worker cannot meet {WORKER_TARGET_MB:.0f} MB even with one process. "
            if warm_floor(raw) > WORKER_TARGET_MB * procfs.MB
            else f"The target leaves "
            f"{_mb(WORKER_TARGET_MB * procfs.MB - warm_floor(raw))} above it. "
        )
        + f"The pool and spare fit processes add {_mb(w['pss'] - warm_floor(raw))} of PSS "
        f"above the floor here (the pages each one touches after its fork)."
        + (
            f" A bare Celery worker with the project's settings and {raw['concurrency']} "
            f"processes, whose main process made the same imports before the pool forked (no "
            f"spare fit processes, no code of ours), idle: {_mb(raw['bare_warm']['pss'])} "
            f"PSS, against {_mb(w['pss'])} for ours with its spares. Celery's prefork pool is "
            f"part of the contract (its hard time limit kills a pool process; RELIABILITY.md), "
            + (
                f"so no warm worker of {raw['concurrency']} processes meets "
                f"{WORKER_TARGET_MB:.0f} MB here."
                if raw["bare_warm"]["pss"] > WORKER_TARGET_MB * procfs.MB
                else "and it fits the target: the difference is ours."
            )
            if raw.get("bare_warm")
            else ""
        ),
        f"- (8) Memory from /proc/PID/smaps_rollup after {len(w['processes'])} processes were "
        f"idle: RSS of each process of the worker's session {each} (main first; the others "
        f"are forks of it: {raw['concurrency']} pool processes and "
        f"{len(w['processes']) - 1 - raw['concurrency']} spare fit processes, sharing most of "
        "its pages, which RSS counts in each); PSS shares those pages "
        "out, so the PSS added up is what the worker costs the machine. The verdict is on "
        "PSS, RSS added up shown beside it. The servers' figures are of the `jupyter server` "
        "process after a few requests (`/api/status`, contents, kernel specs, and with the "
        "extension `info`, `jobs`, `workers`).",
    ]
