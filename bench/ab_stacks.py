"""Not a measure: two checkouts' whole stacks side by side, from one kernel, fit by fit.

    .venv/bin/python bench/ab_stacks.py /path/to/before /path/to/after [pairs] [--sweep N]

Each checkout gets a private Redis, a worker of 2 processes and a `jupyter server` running
its own code (its path alone on PYTHONPATH, started from a temporary directory: `python -m`
puts the working directory first). This process's kernel API (this checkout's: compare
checkouts whose kernel side agrees) sends a tiny lm fit to one stack, then to the other, in
turn first, with `local_fit` here before and after each pair, so that the machine's load
falls on both alike; `submit(...).result()` − `local_fit`, pair by pair. Prints each
checkout's p50 and the p50 of the pairwise difference, each with its 90 % confidence
interval (order statistics), and the phases from the job records. Give the same checkout
twice to see what the method itself makes of two identical stacks. With `--sweep N`, each
turn is a sweep of N tiny fits instead, `submit_many(...).results()`, with no phases.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import services  # noqa: E402

from jupyter_bumps_remote.kernel import api  # noqa: E402
from jupyter_bumps_remote.kernel.client import Client  # noqa: E402
from jupyter_bumps_remote.kernel.discovery import ServerInfo  # noqa: E402
from jupyter_bumps_remote.shared.fitting import local_fit  # noqa: E402
from tests.support.problems import gaussian_problem  # noqa: E402
from tests.support.services import Worker  # noqa: E402

WARMUP, SEED = 10, 1
PHASES = ("encode + POST", "queued", "running")


@contextlib.contextmanager
def stack(checkout: str):
    """A Redis, a worker and a server of `checkout`'s code; yields a kernel client of it."""
    code = {"PYTHONPATH": checkout}
    with (
        services.redis() as redis,
        services.started(Worker(redis.url, pythonpath=[checkout])),
        services.jupyter_server(redis.url, env=code) as server,
    ):
        yield Client(ServerInfo(server.url, server.token, "ab_stacks"))


def sweep_on(client: Client, problems: list) -> tuple[float, ...]:
    """A sweep's submit to its every result, in seconds (no phases)."""
    api._client = client  # (the kernel API's one client: this process talks to two servers)
    start = time.perf_counter()
    api.submit_many(problems, "lm", seed=SEED).results(600)
    return (time.perf_counter() - start, 0.0, 0.0, 0.0)


def fit_on(client: Client) -> tuple[float, ...]:
    """Submit to result, and the phases from the job's record, in seconds."""
    api._client = client  # (the kernel API's one client: this process talks to two servers)
    sent, start = time.time(), time.perf_counter()
    job = api.submit(gaussian_problem(), "lm", seed=SEED)
    job.result(120)
    total, record = time.perf_counter() - start, job.record
    return (
        total,
        record["created"] - sent,
        record["started"] - record["created"],
        record["finished"] - record["started"],
    )


def here() -> float:
    start = time.perf_counter()
    local_fit(gaussian_problem(), "lm", SEED)
    return time.perf_counter() - start


def spread(values: list[float]) -> str:
    """p50 and its 90 % confidence interval, in ms (the order statistics around the
    median: no assumption on the noise's shape)."""
    ordered, n = sorted(values), len(values)
    low, high = int(n / 2 - 0.82 * n**0.5), int(n / 2 + 0.82 * n**0.5)
    return (
        f"{statistics.median(ordered) * 1000:.2f} ms "
        f"(90% CI {ordered[max(low, 0)] * 1000:.2f}–{ordered[min(high, n - 1)] * 1000:.2f})"
    )


def main(before: str, after: str, pairs: int, sweep: int = 0) -> None:
    before, after = os.path.abspath(before), os.path.abspath(after)
    problems = [gaussian_problem() for _ in range(sweep)]
    run = (lambda client: sweep_on(client, problems)) if sweep else fit_on
    os.chdir(tempfile.gettempdir())
    services.quiet_fits()
    with stack(before) as old, stack(after) as new:
        for _ in range(WARMUP // 5 if sweep else WARMUP):
            run(old)
            run(new)
            here()
        rows = []
        for i in range(pairs):
            order = (old, new) if i % 2 == 0 else (new, old)
            local = here()
            runs = {id(client): run(client) for client in order}
            local = (local + here()) / 2
            rows.append((runs[id(old)], runs[id(new)], local))
    what = f"{pairs} pairs" + (f" of sweeps of {sweep}" if sweep else "")
    print(f"before: {before}\nafter:  {after}\n{what}")
    print(f"before − local_fit: {spread([b[0] - lo for b, _, lo in rows])}")
    print(f"after − local_fit:  {spread([a[0] - lo for _, a, lo in rows])}")
    print(f"before − after:     {spread([b[0] - a[0] for b, a, _ in rows])}")
    for k, phase in enumerate(() if sweep else PHASES, start=1):
        print(
            f"{phase}: before {statistics.median(b[k] for b, _, _ in rows) * 1000:.2f} ms, "
            f"after {statistics.median(a[k] for _, a, _ in rows) * 1000:.2f} ms"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    sweep = int(args.pop(args.index("--sweep") + 1)) if "--sweep" in args else 0
    args = [a for a in args if a != "--sweep"]
    main(args[0], args[1], int(args[2]) if len(args) > 2 else 300, sweep)
