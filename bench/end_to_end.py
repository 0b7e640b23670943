"""Benchmark: a tiny lm fit end to end, from the notebook user's side.

bench/run.py calls `measure()` with its private redis-server and `bumps-remote worker`
running; this module starts a real `jupyter server` in shared mode on that Redis and times

a. `jupyter_bumps_remote.submit(problem, "lm", seed=...).result()` in this process, after
   `connect(server.url, server.token)`, alternating with
c. `local_fit(problem, "lm", seed)` in this process;
b. in a real IPython kernel (jupyter_client, started as the server would start it: its
   JPY_PARENT_PID and JUPYTER_RUNTIME_DIR, so that the kernel finds the server by itself),
   one cell per run, timed by the kernel itself with `time.perf_counter()`:
   - `job = %bumps_remote problem --fitter lm --seed S --wait` then `job.result()`;
   - `submit(problem, "lm", seed=S).result()` (the Python API, no panel shown);
   - `local_fit(problem, "lm", S)`.

Every remote run is split with the job record's `created`/`started`/`finished` (the
server's and the worker's `time.time()`, same machine) against the client's `time.time()`
at the start. `python bench/end_to_end.py [--quick]` runs these measurements alone (without
the bare Celery reference, which bench/run.py measures).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for path in (REPO, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import services  # noqa: E402

SEED = 20240601
FIT_TIMEOUT = 60.0
CELL_TIMEOUT = 120.0


@dataclass(frozen=True)
class EndToEndPlan:
    api_runs: int  # (a) and (c): remote/local pairs in this process
    kernel_runs: int  # (b): magic, API and local cells in the kernel, each
    warmup: int  # unmeasured runs of each kind first
    panel_runs: int  # the magic panel's final work, timed in parts
    step_runs: int  # the worker's steps replayed here


E2E_FULL = EndToEndPlan(api_runs=100, kernel_runs=40, warmup=3, panel_runs=5, step_runs=30)
E2E_QUICK = EndToEndPlan(api_runs=10, kernel_runs=6, warmup=2, panel_runs=1, step_runs=5)


# -- timing a remote job ----------------------------------------------------------------------


def split(kind: str, w0: float, marks: dict, record: dict, result) -> dict:
    """One remote run: the client's marks (seconds after its start, `w0` = its time.time()
    at the start) and the job record's timestamps, as phases."""
    summary = result.to_dict()
    wait_end = marks.get("wait", marks.get("magic"))
    return {
        "kind": kind,
        **marks,
        "to_created": record["created"] - w0,
        "queued": record["started"] - record["created"],
        "running": record["finished"] - record["started"],
        "fit": summary.get("elapsed"),
        "after_finished": w0 + wait_end - record["finished"],
        "status": record["status"],
        "x": [float(v) for v in result.x],
    }


def api_run(remote, problem) -> dict:
    """`submit(problem, "lm").result()`, with a mark between its two calls (`result()`
    waits for the job's end and its summary in one long-poll request)."""
    w0, t0 = time.time(), time.perf_counter()
    job = remote.submit(problem, "lm", seed=SEED)
    t1 = time.perf_counter()
    result = job.result(FIT_TIMEOUT)
    t2 = time.perf_counter()
    marks = {"total": t2 - t0, "submit": t1 - t0, "wait": t2 - t0, "result": t2 - t1}
    return split("api", w0, marks, job.record, result)


def worker_steps(runs: int) -> dict:
    """The steps of a job's `running → finished`, replayed in this process as the worker
    does them (jupyter_bumps_remote.worker: runner, fit_process, results), each timed:
    fork and reap a child, decode the payload, fit, summarize, write the session file.
    Without the Redis writes and the progress events; bumps warmed up as in the worker."""
    from jupyter_bumps_remote import transport
    from jupyter_bumps_remote.bumps_compat import convergence_monitor
    from jupyter_bumps_remote.fitting import run_fit
    from jupyter_bumps_remote.worker.results import session_bytes, summarize
    from jupyter_bumps_remote.worker.warm import warm_up
    from tests.support.problems import gaussian_problem

    warm_up()
    payload = transport.encode(gaussian_problem())
    steps = {key: [] for key in ("fork", "decode", "fit", "summary", "session")}
    for i in range(runs + 1):  # the first one warms up
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        t1 = time.perf_counter()
        problem = transport.decode(payload)
        t2 = time.perf_counter()
        rows = convergence_monitor(problem)
        result = run_fit(problem, "lm", {}, SEED, monitors=[], convergence=rows).result
        t3 = time.perf_counter()
        summarize(problem, result, seed=SEED, options={}, partial=False, elapsed=t3 - t2)
        t4 = time.perf_counter()
        session_bytes(problem, result)
        t5 = time.perf_counter()
        if i:
            for key, value in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
                                  strict=True):  # fmt: skip
                steps[key].append(value)
    return steps


def local_run(problem) -> dict:
    from jupyter_bumps_remote.fitting import local_fit

    t0 = time.perf_counter()
    result = local_fit(problem, "lm", SEED)
    return {"kind": "local", "total": time.perf_counter() - t0, "x": [float(v) for v in result.x]}


# -- the kernel -------------------------------------------------------------------------------

# The kernel's own copy of split() and of the runs; `_rows` collects what it measured.
KERNEL_SETUP = f"""
import json as _json, time as _time, warnings as _warnings
import jupyter_bumps_remote as _remote
from jupyter_bumps_remote.fitting import local_fit as _local_fit
from jupyter_bumps_remote.kernel import api as _api
from tests.support.problems import gaussian_problem as _gaussian_problem
%load_ext jupyter_bumps_remote
_warnings.filterwarnings("ignore", message="Did not converge")
SEED = {SEED}
_rows = []
{{source}}
print(_json.dumps({{{{"source": _api.client().server.source, "url": _api.client().server.url}}}}))
"""

MAGIC_CELL = f"""
problem = _gaussian_problem()
_w0, _t0 = _time.time(), _time.perf_counter()
job = %bumps_remote problem --fitter lm --seed {SEED} --wait
_t1 = _time.perf_counter()
_result = job.result()
_t2 = _time.perf_counter()
_rows.append(split("magic", _w0, {{"total": _t2 - _t0, "magic": _t1 - _t0, "result": _t2 - _t1}},
                   job.record, _result))
"""

API_CELL = f"""
problem = _gaussian_problem()
_w0, _t0 = _time.time(), _time.perf_counter()
_job = _remote.submit(problem, "lm", seed={SEED})
_t1 = _time.perf_counter()
_result = _job.result({FIT_TIMEOUT})
_t2 = _time.perf_counter()
_rows.append(split("api", _w0, {{"total": _t2 - _t0, "submit": _t1 - _t0, "wait": _t2 - _t0,
                                 "result": _t2 - _t1}}, _job.record, _result))
"""

LOCAL_CELL = f"""
problem = _gaussian_problem()
_t0 = _time.perf_counter()
_local = _local_fit(problem, "lm", {SEED})
_rows.append({{"kind": "local", "total": _time.perf_counter() - _t0,
               "x": [float(v) for v in _local.x]}})
"""


def _split_source() -> str:
    import inspect

    return inspect.getsource(split)


class Kernel:
    """A real IPython kernel started the way the server starts its own."""

    def __init__(self, server):
        from tests.kernel.kernel_session import KernelSession

        env = {
            **os.environ,
            "JPY_PARENT_PID": str(server.process.pid),
            "JUPYTER_RUNTIME_DIR": server.env["JUPYTER_RUNTIME_DIR"],
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        for name in ("BUMPS_REMOTE_SERVER_URL", "BUMPS_REMOTE_TOKEN", "JUPYTERHUB_SERVICE_URL"):
            env.pop(name, None)  # discovery must find the server from the kernel's parent
        self.session = KernelSession(env, cwd=str(server.home))

    def run(self, code: str) -> dict:
        out = self.session.run(code, timeout=CELL_TIMEOUT)
        if out["status"] != "ok" or out["error"]:
            error = out["error"] or {}
            raise RuntimeError(
                f"kernel cell failed: {error.get('ename')}: {error.get('evalue')}\n"
                + "\n".join(error.get("traceback", []))[-3000:]
                + f"\n--- cell ---\n{code}"
            )
        return out

    def timed(self, code: str) -> float:
        """Run a cell; its wall time seen from here (kernel messaging included)."""
        t0 = time.perf_counter()
        self.run(code)
        return time.perf_counter() - t0

    def close(self) -> None:
        self.session.close()


PANEL_CELL = """
from jupyter_bumps_remote.kernel import widget as _widget
from jupyter_bumps_remote.kernel.result import FitResult as _FitResult
_summary = job.result().to_dict()
_fresh = _FitResult(job.id, _summary, lambda: _api.client().session_file(job.id))
_t0 = _time.perf_counter()
_fresh.session_bytes()
_t1 = _time.perf_counter()
_fresh.problem
_t2 = _time.perf_counter()
_widget._images(_fresh)
_t3 = _time.perf_counter()
_rows.append({"kind": "panel", "session_get": _t1 - _t0, "session_load": _t2 - _t1,
              "plot": _t3 - _t2})
"""


# -- measurement ------------------------------------------------------------------------------


def measure(plan: EndToEndPlan, redis_url: str) -> dict:
    """Start a `jupyter server` in shared mode on `redis_url` (a worker must serve it) and a
    kernel; run (a)/(c) in this process and (b) in the kernel, interleaved so that changes
    in the machine's load hit every series; stop both. Returns the raw figures."""
    import jupyter_bumps_remote as remote
    from jupyter_bumps_remote.kernel import api
    from tests.support.problems import gaussian_problem

    cells = {"magic": MAGIC_CELL, "api": API_CELL, "local": LOCAL_CELL}
    try:
        with (
            services.jupyter_server(redis_url, prefix="bumps-remote-bench-e2e-") as server,
            contextlib.closing(Kernel(server)) as kernel,
        ):
            remote.connect(server.url, server.token)
            setup = kernel.run(KERNEL_SETUP.format(source=_split_source()))
            found = json.loads(setup["stdout"].strip().splitlines()[-1])
            if found["url"] != server.url:
                raise RuntimeError(f"the kernel found {found}, not the bench's server {server.url}")
            print(f"end to end: {plan.warmup} warm-up runs of each kind", file=sys.stderr)
            first_api = api_run(remote, gaussian_problem())["total"]
            for _ in range(plan.warmup - 1):
                api_run(remote, gaussian_problem())
            for _ in range(plan.warmup):
                local_run(gaussian_problem())
            first_outside = {}
            for _ in range(plan.warmup):
                for kind, code in cells.items():
                    first_outside.setdefault(kind, kernel.timed(code))
            print(
                f"end to end: {plan.api_runs} submit().result() / local_fit pairs here, "
                f"{plan.kernel_runs} × (magic, API, local) in the kernel",
                file=sys.stderr,
            )
            bench_api, bench_local = [], []
            outside = {kind: [] for kind in cells}
            for r in range(plan.kernel_runs):
                # this process's pairs, spread evenly between the kernel's runs
                n, k = plan.api_runs, plan.kernel_runs
                for _ in range((r + 1) * n // k - r * n // k):
                    bench_api.append(api_run(remote, gaussian_problem()))
                    bench_local.append(local_run(gaussian_problem()))
                for kind, code in cells.items():
                    outside[kind].append(kernel.timed(code))
            for _ in range(plan.panel_runs):
                kernel.run(PANEL_CELL)
            rows = json.loads(kernel.run("print(_json.dumps(_rows))")["stdout"].strip())
    finally:
        api._client = None
    warm = plan.warmup * len(cells)
    by_kind = {kind: [r for r in rows[warm:] if r["kind"] == kind] for kind in (*cells, "panel")}
    kernel_raw = {
        "discovery": found["source"],
        "rows": by_kind,
        "outside": outside,
        "first": {r["kind"]: r["total"] for r in rows[: len(cells)]},
        "first_outside": first_outside,
    }
    steps = worker_steps(plan.step_runs)
    return {
        "api": bench_api,
        "local": bench_local,
        "first_api": first_api,
        "kernel": kernel_raw,
        "steps": steps,
    }


# -- report -----------------------------------------------------------------------------------


def _pct(values, q: float) -> float:
    import numpy as np

    values = [v for v in values if v is not None]
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def _p50_p95(values) -> list[float]:
    return [_pct(values, 50), _pct(values, 95)]


def _col(rows: list[dict], key: str) -> list:
    return [r.get(key) for r in rows]


PHASES = ("total", "submit", "to_created", "queued", "running", "fit", "after_finished",
          "magic", "result")  # fmt: skip


def _remote_figures(rows: list[dict]) -> dict:
    keys = [k for k in PHASES if any(k in r for r in rows)]
    return {k: _p50_p95(_col(rows, k)) for k in keys} | {"n": len(rows)}


def _identical(rows: list[dict], local: list[dict]) -> bool:
    reference = local[0]["x"]
    return all(r["x"] == reference for r in rows + local)


def figures(raw: dict, bare: list[float] | None = None, ipp: dict | None = None) -> dict:
    """p50/p95 of every series, in seconds; `bare` is the bare Celery round trip p50/p95,
    `ipp` the ipyparallel anchor's figures (bench/ipyparallel_anchor.py)."""
    k = raw["kernel"]
    rows = k["rows"]
    out = {
        "bench_api": _remote_figures(raw["api"]),
        "bench_local": _p50_p95(_col(raw["local"], "total")),
        "first_api": raw["first_api"],
        "kernel_magic": _remote_figures(rows["magic"]),
        "kernel_api": _remote_figures(rows["api"]),
        "kernel_local": _p50_p95(_col(rows["local"], "total")),
        "outside": {kind: _p50_p95(values) for kind, values in k["outside"].items()},
        "panel": {
            key: _p50_p95(_col(rows["panel"], key))
            for key in ("session_get", "session_load", "plot")
        },  # fmt: skip
        "panel_runs": len(rows["panel"]),
        "steps": {key: _p50_p95(values) for key, values in raw["steps"].items()},
        "step_runs": len(raw["steps"]["fork"]),
        "first": k["first"],
        "discovery": k["discovery"],
        "identical": _identical(
            raw["api"] + rows["magic"] + rows["api"], raw["local"] + rows["local"]
        ),  # fmt: skip
        "api_runs": len(raw["api"]),
        "kernel_runs": len(rows["local"]),
        "bare": bare,
        "ipp": ipp,
    }
    # remote − local of each path, p50 and p95 of each side
    out["over"] = {
        "bench_api": _minus(out["bench_api"]["total"], out["bench_local"]),
        "kernel_magic": _minus(out["kernel_magic"]["total"], out["kernel_local"]),
        "kernel_api": _minus(out["kernel_api"]["total"], out["kernel_local"]),
    }
    return out


def _minus(a: list[float], b: list[float]) -> list[float]:
    return [a[0] - b[0], a[1] - b[1]]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def table(f: dict) -> str:
    indent = "&nbsp;&nbsp;"
    a, m, k = f["bench_api"], f["kernel_magic"], f["kernel_api"]
    na, nk = f["api_runs"], f["kernel_runs"]
    bare = f["bare"]
    target = [2 * bare[0], 2 * bare[1]] if bare else None

    def versus(over: list[float]) -> str:
        if not target:
            return ""
        verdict = "met" if over[0] <= target[0] else "**missed**"
        return (
            f"p50 {over[0] / target[0]:.1f}× the target (2 × bare Celery p50 = "
            f"{_ms(target[0])}): {verdict}"
        )

    def phases(r: dict, n: int, magic: bool = False, steps: bool = False) -> list[tuple]:
        labels = (
            ("fork", "replayed here in fresh forks, a job's steps without a spare: fork and reap"),
            ("decode", "… decode the payload"),
            ("fit", "… fit"),
            ("summary", "… summarize"),
            ("session", "… write the session file (HDF5)"),
        )
        replay = [
            (f"{indent}{indent}{label}", f["step_runs"], *map(_ms, f["steps"][key]), "")
            for key, label in labels
        ] if steps else []  # fmt: skip
        rows = [
            (f"{indent}client start → job record created (encode + POST)", n,
             *map(_ms, r["to_created"]), ""),
            (f"{indent}queued → running (Celery delivery, start)", n, *map(_ms, r["queued"]),
             ""),
            (f"{indent}running → finished (fork, decode, fit, summary; the session file "
             "follows)", n, *map(_ms, r["running"]), ""),
            (f"{indent}{indent}of which the fit itself (worker clock)", n, *map(_ms, r["fit"]),
             ""),
            *replay,
        ]  # fmt: skip
        if magic:
            rows += [
                (f"{indent}finished → magic returns (WebSocket, refresh, panel: result, "
                 "session file, plot)", n, *map(_ms, r["after_finished"]), ""),
                (f"{indent}{indent}the panel's last work, timed apart: GET the session file",
                 f["panel_runs"], *map(_ms, f["panel"]["session_get"]), ""),
                (f"{indent}{indent}… load it with bumps (`FitResult.problem`)", f["panel_runs"],
                 *map(_ms, f["panel"]["session_load"]), ""),
                (f"{indent}{indent}… draw bumps' plot of the fit to PNG", f["panel_runs"],
                 *map(_ms, f["panel"]["plot"]), ""),
                (f"{indent}`job.result()` after the magic", n, *map(_ms, r["result"]), ""),
            ]  # fmt: skip
        else:
            rows += [
                (f"{indent}finished → `result()` returns (its long poll answers with the "
                 "summary)", n, *map(_ms, r["after_finished"]), ""),
            ]  # fmt: skip
        return rows

    rows = [
        ("**(a) `submit(problem, \"lm\").result()`**, Python API in the bench process", na,
         *map(_ms, a["total"]), ""),
        *phases(a, na, steps=True),
        ("**(c) `local_fit(problem, \"lm\", seed)`** in the bench process", na,
         *map(_ms, f["bench_local"]), ""),
        ("**(a) − (c): remote − local**", "", *map(_ms, f["over"]["bench_api"]),
         versus(f["over"]["bench_api"])),
        ("**(b) `job = %bumps_remote problem --fitter lm --wait; job.result()`** in a kernel "
         "(kernel's clock)", nk, *map(_ms, m["total"]), ""),
        *phases(m, nk, magic=True),
        ("**(b′) `submit(problem, \"lm\").result()`** in the same kernel (no panel)", nk,
         *map(_ms, k["total"]), ""),
        *phases(k, nk),
        ("**(c′) `local_fit(problem, \"lm\", seed)`** in the same kernel", nk,
         *map(_ms, f["kernel_local"]), ""),
        ("**(b) − (c′): magic − local**", "", *map(_ms, f["over"]["kernel_magic"]),
         versus(f["over"]["kernel_magic"])),
        ("**(b′) − (c′): API in the kernel − local**", "", *map(_ms, f["over"]["kernel_api"]),
         versus(f["over"]["kernel_api"])),
        ("the magic's cell seen from the client (kernel messaging and display included)", nk,
         *map(_ms, f["outside"]["magic"]), ""),
    ]  # fmt: skip
    if bare:
        rows.append(
            ("**(d) bare Celery round trip** (no-op `send_task(...).get()`, above)", "",
             *map(_ms, bare), f"target for remote − local: 2 × = {_ms(target[0])} (p50)")
        )  # fmt: skip
    ipp = f["ipp"]
    if ipp:
        rows += [
            ("**(e) ipyparallel round trip**: `view.apply_sync(noop)`, 1 engine",
             ipp["noop_runs"], *map(_ms, ipp["noop"]), ""),
            ("**(f) ipyparallel fit**: `view.apply_sync(local_fit, problem, \"lm\", seed)`",
             ipp["fit_runs"], *map(_ms, ipp["fit"]),
             f"(e) + (c) = {_ms(ipp['noop'][0] + f['bench_local'][0])} (p50)"),
            ("**(a) against (e) + (c)**: remote end to end faster than ipyparallel's round "
             "trip plus the local fit?", "", _ms(a["total"][0]), "",
             _ipp_verdict(a["total"][0], ipp["noop"][0] + f["bench_local"][0])),
            ("**(b′) against (e) + (c′)**, in the kernel", "", _ms(k["total"][0]), "",
             _ipp_verdict(k["total"][0], ipp["noop"][0] + f["kernel_local"][0])),
        ]  # fmt: skip
    lines = ["| Measure | N | p50 | p95 | Target, note |", "| --- | ---: | ---: | ---: | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} | {t} |" for a, b, c, d, t in rows]
    return "\n".join(lines)


def _ipp_verdict(remote: float, anchor: float) -> str:
    verdict = "met" if remote < anchor else "**missed**"
    return f"target: p50 below the anchor's {_ms(anchor)}: {remote / anchor:.1f}×, {verdict}"


def notes(f: dict) -> str:
    a, m, k = f["bench_api"], f["kernel_magic"], f["kernel_api"]
    over, bare, panel = f["over"], f["bare"], f["panel"]
    lines = []
    if bare:
        target = 2 * bare[0]
        worst = max(over["bench_api"][0], over["kernel_api"][0], over["kernel_magic"][0])
        best = min(over["bench_api"][0], over["kernel_api"][0])
        verdict = "**missed**" if best > target else "met"
        lines.append(
            f"- Target (the [perf] issue): remote − local ≤ 2 × the bare Celery round trip, "
            f"i.e. ≤ {_ms(target)} here (bare p50 {_ms(bare[0])}). It is {verdict}: remote − "
            f"local is {_ms(over['bench_api'][0])} (p50) for `submit().result()` in a script, "
            f"{_ms(over['kernel_api'][0])} for the same in a kernel and "
            f"{_ms(over['kernel_magic'][0])} for the magic with `--wait`: "
            f"{best / target:.0f}× to {worst / target:.0f}× the target."
        )
    ipp = f["ipp"]
    if ipp:
        anchor = ipp["noop"][0] + f["bench_local"][0]
        lines.append(
            f"- Target (the [perf] issue): faster than ipyparallel's round trip plus the local "
            f"fit. ipyparallel (`ipcontroller` and one `ipengine` on 127.0.0.1, cloudpickle) "
            f"takes {_ms(ipp['noop'][0])} (p50) for a no-op `apply_sync` and "
            f"{_ms(ipp['fit'][0])} to run the same lm fit on its engine; round trip + local fit "
            f"= {_ms(anchor)}, against {_ms(a['total'][0])} for `submit().result()`: "
            f"{a['total'][0] / anchor:.1f}× ("
            + ("met" if a["total"][0] < anchor else "**missed**")
            + "). ipyparallel keeps no record, no event stream, no result or session file: "
            "it sends the function and its arguments to a live engine and the return value "
            "back, which is the floor a remote fit could reach."
        )
    fit, running = a["fit"][0], a["running"][0]
    st = {key: value[0] for key, value in f["steps"].items()}
    lines += [
        f"- Where the time of `submit().result()` goes (p50s, bench process): "
        f"{_ms(a['to_created'][0])} from the call to the stored job record (encode with the "
        f"preflight χ², HTTP POST), {_ms(a['queued'][0])} queued (Celery delivery to the "
        f"worker), {_ms(running)} running of which the fit is {_ms(fit)}, then "
        f"{_ms(a['after_finished'][0])} until `result()` returns (its long-poll GET answers "
        f"with the record and the summary, `include=result`). The largest part is the "
        f"worker's {_ms(running - fit)} around the fit. What a job cost on the worker before "
        f"it readied its fit processes ahead (spare.py) and wrote the session file after the "
        f"terminal status, replayed step by step in fresh forks of the bench process: writing "
        f"the bumps session file (HDF5, `save_fit`) {_ms(st['session'])}, forking and reaping "
        f"the fit process {_ms(st['fork'])}, decoding the payload {_ms(st['decode'])}, the "
        f"summary {_ms(st['summary'])}. Now the fork and a warm-up run while the worker is "
        f"idle, and the session file follows the status; what is left around the fit is the "
        f"handover to the spare, Redis writes (payload read, progress, result, status) and "
        f"sharing 2 CPUs with everything else.",
        f"- The magic with `--wait` in a kernel: {_ms(m['total'][0])} (p50) against "
        f"{_ms(k['total'][0])} for `submit().result()` in the same kernel. The difference is "
        f"after the fit: finished → magic returns takes {_ms(m['after_finished'][0])} against "
        f"{_ms(k['after_finished'][0])}, because in a notebook `--wait` also waits for the "
        f"live panel's thread to finish (`panel.join`), which fetches the result and the "
        f"session file ({_ms(panel['session_get'][0])}), loads the session with bumps "
        f"({_ms(panel['session_load'][0])}) and draws the fit's plot to PNG "
        f"({_ms(panel['plot'][0])}; p50s of {f['panel_runs']} run"
        f"{'s' if f['panel_runs'] != 1 else ''} timed apart): the plot "
        f"is most of what `--wait` adds in a notebook. `job.result()` after the magic is "
        f"then cached ({_ms(m['result'][0])}).",
        f"- The kernel found the server by itself ({f['discovery']}: JPY_PARENT_PID and the "
        f"server's runtime dir, as for a kernel the server starts). First run of each kind "
        f"in a new kernel (imports, first plot): magic {_ms(f['first']['magic'])}, API "
        f"{_ms(f['first']['api'])}, local {_ms(f['first']['local'])}; first "
        f"`submit().result()` in the bench process {_ms(f['first_api'])}. These warm-up runs "
        f"are left out of the figures.",
        "- Best points of every remote and local fit with the same seed: "
        + ("identical." if f["identical"] else "**different**."),
        "- The phases come from the client's `time.time()` at the call and the job record's "
        "`created`/`started`/`finished` (the server's and the worker's clocks, same machine); "
        "each percentile is of its own series, so the p50s need not add up to the total's.",
    ]
    return "\n".join(lines)


def section(plan: EndToEndPlan, f: dict) -> str:
    """The end-to-end section of docs/benchmarks.md."""
    return f"""## End to end: submit → result in the kernel

The notebook user's view of the same tiny lm fit (the [kernel] issue): a real
`jupyter server` process (`tests.support.services.JupyterServer`, token auth) in shared
mode on the same private Redis and worker, and

- **(a)** `jupyter_bumps_remote.submit(problem, "lm", seed=S).result()` in the bench process
  after `jupyter_bumps_remote.connect(server.url, server.token)`: encode, POST, a long-poll
  `GET jobs/{id}?wait` that answers when the job ends, GET the result summary; alternating with
- **(c)** `local_fit(problem, "lm", S)` in the bench process;
- **(b)** in a real IPython kernel (`jupyter_client`, with the server's JPY_PARENT_PID and
  runtime dir so that it finds the server as a kernel the server started would), one cell
  per run, timed by the kernel with `time.perf_counter()`:
  `job = %bumps_remote problem --fitter lm --seed S --wait` then `job.result()`; then in
  the same kernel **(b′)** `submit(problem, "lm", seed=S).result()` and **(c′)**
  `local_fit(problem, "lm", S)`;
- **(d)** the bare Celery round trip measured above.

Each run fits a new `gaussian_problem()` (a fit moves the problem's parameters).
{plan.warmup} warm-up runs of each kind first, left out.

{table(f)}

{notes(f)}
"""


# -- standalone -------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """`python bench/end_to_end.py [--quick]`: these measurements alone, with their own
    Redis and worker (no bare Celery reference); prints the table."""
    import warnings

    plan = E2E_QUICK if "--quick" in argv else E2E_FULL
    services.stop_on_sigterm()
    warnings.filterwarnings("ignore", message="Did not converge")
    with services.redis_and_worker(concurrency=2) as (redis_server, _):
        raw = measure(plan, redis_server.url)
    f = figures(raw)
    print(table(f))
    print()
    print(notes(f))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
