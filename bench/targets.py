"""The [perf] issue's targets in one table: measured value, target, met or missed.

Built from the figures of every part of a run (bench/run.py); a part that was left out
(`--no-kernel`, `--no-scale`, ...) leaves its rows out. Each row points to the section that
shows the measurement and, for a miss, its cause.
"""

from __future__ import annotations

import footprint
import history
import throughput
from server import EVENT_LATENCY_TARGET_MS

DREAM_TARGET = 1.03


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def contract_floor(f: dict, server: dict | None) -> float | None:
    """Seconds that any design pays over the local fit for a tiny fit sent from a kernel
    through the Jupyter server to a worker honouring the project's Celery settings: the
    contract-settings bare Celery fit round trip over the same fit here (it decodes the
    pickled problem), plus two requests to jupyter_server, each at least jupyter_server's
    own `GET /api/status`: the submit, which must return at once (the product's live
    widget), and one long poll that brings the result."""
    contract = f.get("contract")
    if not contract or server is None:
        return None
    status = server["windows"]["idle"]["status"][0] / 1000
    return contract["over"][0] + 2 * status


def _floor(value: str, reachable: bool) -> str:
    return f"{value}: " + ("the target is within reach" if reachable
                           else "**the target is out of reach**")  # fmt: skip


def rows(f: dict, e2e: dict | None, server: dict | None, scale: dict | None) -> list[tuple]:
    """(measure, measured, target, verdict, floor) per target; the floor is what any design
    that keeps the project's contract (ARCHITECTURE.md, RELIABILITY.md) pays, measured in
    the same run, or "" where none was measured."""
    out = []
    floor = contract_floor(f, server)
    if e2e is not None and e2e.get("bare"):
        over, bare = e2e["over"]["bench_api"][0], e2e["bare"][0]
        out.append(("1. tiny lm fit, `submit(...).result()` through the server: remote − local",
                    f"{_ms(over)} (p50)", f"≤ 2 × bare Celery round trip = {_ms(2 * bare)}",
                    _verdict(over <= 2 * bare),
                    _floor(f"{_ms(floor)} (Celery with the project's settings running the "
                           "fit, + 2 requests to jupyter_server)", floor <= 2 * bare)
                    if floor else ""))  # fmt: skip
    if e2e is not None and e2e.get("ipp"):
        total = e2e["bench_api"]["total"][0]
        anchor = e2e["ipp"]["noop"][0] + e2e["bench_local"][0]
        end_floor = floor + e2e["bench_local"][0] if floor else None
        out.append(("1. the same, remote end to end", f"{_ms(total)} (p50)",
                    f"< ipyparallel round trip + local fit = {_ms(anchor)}",
                    _verdict(total < anchor),
                    _floor(f"{_ms(end_floor)} (the floor above + the local fit)",
                           end_floor < anchor) if end_floor else ""))  # fmt: skip
    dream = f["dream"]
    ratio = dream["remote"][0] / dream["local"][0]
    forked = dream["forked"][0] / dream["local"][0]
    out.append((f"2. long dream fit ({dream['local'][0]:.1f} s locally): remote / local",
                f"{ratio:.3f}× (p50s; pair by pair {dream['pair_ratio'][0]:.3f}×)",
                f"≤ {DREAM_TARGET}×", _verdict(ratio <= DREAM_TARGET),
                _floor(f"{forked:.3f}× (the same fit in a fresh fork of the bench process)",
                       forked <= DREAM_TARGET)))  # fmt: skip
    if scale is not None:
        s, c = scale["sweep"], scale["scale"]
        share = s["fits_per_s"] / s["bare_per_s"]
        bare_fits = s.get("bare_fits_per_s")
        out.append((f"3. sweep of {s['n']} tiny fits, 2 processes",
                    f"{s['fits_per_s']:.1f} fits/s = {share:.0%} of {s['bare_per_s']:.0f} "
                    "no-op tasks/s", "≥ 50%",
                    _verdict(share >= throughput.SWEEP_TARGET),
                    _floor(f"{bare_fits / s['bare_per_s']:.0%} (bare Celery tasks that only "
                           "decode and fit)", bare_fits >= throughput.SWEEP_TARGET
                           * s["bare_per_s"]) if bare_fits else ""))  # fmt: skip
        out.append((f"4. scale-out, {c['n']} dream fits, 1 → 2 processes",
                    f"{c['speedup']:.2f}×", f"≥ {throughput.SCALE_TARGET}×",
                    _verdict(c["speedup"] >= throughput.SCALE_TARGET),
                    _floor(f"{c['plain']:.2f}× (the same fits in 2 plain processes, no "
                           "worker)", c["plain"] >= throughput.SCALE_TARGET)
                    if c.get("plain") else ""))  # fmt: skip
    if server is not None:
        p95 = server["events"]["all"][1]
        out.append(("5. event latency worker → WebSocket client", f"{p95:.1f} ms (p95)",
                    f"≤ {EVENT_LATENCY_TARGET_MS:.0f} ms",
                    _verdict(p95 <= EVENT_LATENCY_TARGET_MS), ""))  # fmt: skip
    if scale is not None:
        fe, h, w = scale["history"]["fetch"], scale["history"]["history"], scale["footprint"]
        ratio = fe["remote"][0] / fe["local"][0]
        out.append((f"6. result fetch, 5-parameter DREAM of {fe['steps']} steps",
                    f"{ratio:.2f}× reading the session file locally (p50s)", "≤ 2×",
                    _verdict(ratio <= history.FETCH_TARGET), ""))  # fmt: skip
        out.append((f"7. `GET jobs` first page with {h['jobs']:,} jobs", f"{_ms(h['first'][0])} "
                    "(p50)", f"≤ {history.PAGE_TARGET_MS:.0f} ms",
                    _verdict(h["first"][0] * 1000 <= history.PAGE_TARGET_MS), ""))  # fmt: skip
        growth = (h["rss"][2] - h["rss"][0]) / footprint.procfs.MB
        out.append(("7. server memory growth over the jobs and their pages", f"{growth:.1f} MB "
                    "(RSS)", f"≤ {history.GROWTH_TARGET_MB:.0f} MB",
                    _verdict(growth <= history.GROWTH_TARGET_MB), ""))  # fmt: skip
        pss = w["worker"]["pss"] / footprint.procfs.MB
        out.append(("8. idle worker, 2 pool processes (all its processes)", f"{pss:.0f} MB PSS "
                    f"({w['worker']['rss'] / footprint.procfs.MB:.0f} MB RSS added up)",
                    f"≤ {footprint.WORKER_TARGET_MB:.0f} MB",
                    _verdict(pss <= footprint.WORKER_TARGET_MB),
                    _floor(f"{footprint.worker_floor(w) / footprint.procfs.MB:.0f} MB "
                           + ("PSS (a bare warm Celery worker of as many processes)"
                              if w.get("bare_warm") else
                              "RSS (one interpreter with the imports a warm worker needs)"),
                           footprint.worker_floor(w) <= footprint.WORKER_TARGET_MB
                           * footprint.procfs.MB)))  # fmt: skip
    return out


def table(f: dict, e2e: dict | None, server: dict | None, scale: dict | None) -> str:
    lines = ["| [perf] measure | Measured | Target | Verdict | Floor: what the contract costs |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    # a floor explains a miss; beside a met target it would only be noise
    lines += [f"| {a} | {b} | {c} | {d} | {e if d != 'met' else ''} |"
              for a, b, c, d, e in rows(f, e2e, server, scale)]  # fmt: skip
    return "\n".join(lines)
