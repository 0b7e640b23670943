"""Tool: where the time of a sweep of tiny fits goes, phase by phase and job by job.

`.venv/bin/python bench/sweep_timeline.py [N]` (default 300) starts `services.Base` (a
private Redis, a worker of 2 processes, a `jupyter server`), runs
`submit_many(N gaussian problems, "lm").results()` once and prints:

- the phases: the submit (the call until the jobs exist: the kernel encodes every problem
  before its first request), the sweep (first job started to last finished), the tail
  (until `results()` returns); in each, the CPUs the whole machine kept busy (/proc/stat),
- in the sweep, the CPU the worker's processes, redis-server and the server ran, and how long
  they were runnable but waiting for a CPU (/proc/<pid>/schedstat): a wait near or above
  one CPU means the sweep is bound by the CPUs, not by round trips,
- per job, from the worker's log (Celery's `received` and `succeeded in`) and the records:
  the Celery task, the run (record `started` to `finished`), the fit's own clock, and the
  gap between one task's end and the next task's start in the same pool process.

Not a measure of `run.py`: no target, no verdict; the figures move with the machine's load,
so compare runs only interleaved (docs/benchmarks.md has the measures).
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import services

_LOG = re.compile(
    r"\[([\d-]+ [\d:,]+): INFO/(\S+)\] Task \S+\[(\w+)\] (received|succeeded in ([\d.e-]+)s)"
)


def _machine() -> tuple[float, float]:
    """(time, busy CPU seconds of the whole machine so far)."""
    return time.time(), services.machine_busy_seconds()


class Sampler:
    """Every 20 ms: the machine's busy CPU seconds, and the run and run-queue wait
    nanoseconds of every process of `session` (the worker: its fit processes come and go)
    and of `others` (redis-server, the server)."""

    def __init__(self, session: int, others: set[int]):
        self.session, self.others = session, others
        self.rows: list[tuple[float, float, int, int]] = []
        self._seen: dict[int, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _ours(self) -> tuple[int, int]:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[3]) == self.session or pid in self.others:
                    run, wait, _ = (entry / "schedstat").read_text().split()
                    self._seen[pid] = (int(run), int(wait))
        # an ended process keeps its last figures: the sums only grow
        return sum(r for r, _ in self._seen.values()), sum(w for _, w in self._seen.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            now, busy = _machine()
            self.rows.append((now, busy, *self._ours()))
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> tuple[float, float, float]:
        """(machine busy CPUs, our on-CPU CPUs, our run-queue wait in CPUs) in [start, end]."""
        inside = [row for row in self.rows if start <= row[0] <= end] or self.rows[-1:]
        first = max((row for row in self.rows if row[0] <= start), default=self.rows[0])
        last = inside[-1]
        span = max(last[0] - first[0], 1e-9)
        return (
            (last[1] - first[1]) / span,
            (last[2] - first[2]) / 1e9 / span,
            (last[3] - first[3]) / 1e9 / span,
        )


def _stamp(text: str) -> float:
    # Celery's log stamps are local time; this machine's and the worker's are the same
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").astimezone(timezone.utc).timestamp()


def tasks_of(log: Path, ids: set[str]) -> tuple[dict[str, float], dict[str, tuple]]:
    """From a worker's log: {job: received} and {job: (start, end, pool process)}."""
    received, ran = {}, {}
    for line in log.read_text(errors="replace").splitlines():
        match = _LOG.match(line)
        if not match or match[3] not in ids:
            continue
        when = _stamp(match[1])
        if match[4] == "received":
            received[match[3]] = when
        else:
            ran[match[3]] = (when - float(match[5]), when, match[2])
    return received, ran


def spread(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    at = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 for q in (0.1, 0.5, 0.9)]
    mean = 1000 * sum(values) / len(values)
    return f"p50 {at[1]:.1f} ms (p10 {at[0]:.1f}, p90 {at[2]:.1f}; mean {mean:.1f})"


def main(count: int) -> None:
    from tests.support.problems import gaussian_problem

    services.quiet_fits()
    with services.Base.running() as base:
        base.remote.submit_many([gaussian_problem() for _ in range(4)], "lm", seed=1).results(300)
        problems = [gaussian_problem() for _ in range(count)]
        worker, redis, server = base.worker.process, base.redis.process, base.server.process
        assert worker is not None and redis is not None and server is not None  # started
        with Sampler(worker.pid, {redis.pid, server.pid}) as sampler:
            time.sleep(0.1)
            t0 = time.time()
            group = base.remote.submit_many(problems, "lm", seed=services.SEED)
            results = group.results(1800)
            t1 = time.time()
        failed = [r for r in results if isinstance(r, Exception)]
        records = {job.record["id"]: job.record for job in group}
        received, ran = tasks_of(base.worker.log, set(records))

    created = min(r["created"] for r in records.values())
    first = min(r["started"] for r in records.values())
    last = max(r["finished"] for r in records.values())
    print(
        f"{count} tiny lm fits: {t1 - t0:.2f} s = {count / (t1 - t0):.0f} fits/s, "
        f"{len(failed)} failed"
    )
    for name, start, end in (
        ("submit (call -> jobs exist)", t0, created),
        ("sweep (first started -> last finished)", first, last),
        ("tail (-> results() returns)", last, t1),
    ):
        machine, ours, waiting = sampler.between(start, end)
        print(f"  {name}: {end - start:.2f} s; machine busy {machine:.2f} CPUs", end="")
        if name.startswith("sweep"):
            print(
                f"; {count / (end - start):.0f} fits/s; worker+redis+server on CPU {ours:.2f}, "
                f"runnable but waiting for a CPU {waiting:.2f}",
                end="",
            )
        print()
    by_process = defaultdict(list)
    for job, (start, end, process) in ran.items():
        by_process[process].append((start, end, job))
    gaps = []
    for runs in by_process.values():
        runs.sort()
        gaps += [b[0] - a[1] for a, b in zip(runs, runs[1:], strict=False)]
    jobs = [(records[job], start, end) for job, (start, end, _) in ran.items()]
    fits = [r.to_dict().get("elapsed") or 0.0 for r in results if not isinstance(r, Exception)]
    print(
        f"  per job ({len(ran)} of {count} found in the worker's log, "
        f"{len(by_process)} pool processes):"
    )
    for name, values in (
        (
            "received (main process) -> task start",
            [s - received[j] for j, (s, _, _) in ran.items() if j in received],
        ),
        ("task start -> record started", [r["started"] - s for r, s, _ in jobs]),
        (
            "record started -> finished (the run)",
            [r["finished"] - r["started"] for r, _, _ in jobs],
        ),
        ("  of which the fit's own clock", fits),
        ("record finished -> task end", [e - r["finished"] for r, _, e in jobs]),
        ("task end -> next task start, same pool process", gaps),
    ):
        print(f"    {name}: {spread(values)}")


if __name__ == "__main__":
    services.stop_on_sigterm()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
