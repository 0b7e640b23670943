"""Measure: a sweep of fits that take tens of ms each, sent away against run in a kernel.

The [perf] issue's second target: with 2 worker processes, a sweep of fits of about 50 to
100 ms each must come back at least 1.7 times faster than the same fits run one after the
other in the kernel: the worker's parallelism must show through its costs per job.

"In the kernel" is measured in a fresh Python process that runs the fits one after the
other, twice per round: as a new kernel has it (glibc's malloc as it starts, which hands the
model's ~1 MB temporaries back to the system and faults them in again at every evaluation),
and as a kernel whose malloc has adapted (the thresholds the worker's fit processes set,
worker/fit/heap.py, given by environment). The two differ by up to 3× for this model
(docs/benchmarks.md); the bench process itself is either, depending on what ran before it,
so it neither runs the serial fits nor sends the sweep: a fresh process of each kind does
both, since the kernel's encode evaluates the model too (twice a problem, 4 times for the
first of its kind).

Beside them, in each round: the floors. The same fits shared out between 2 processes forked
from such a kernel (nothing sent: the most 2 processes reach); and the same fits sent as
bare Celery tasks (bare_celery.py's `fit_pickled`) to a bare prefork worker of 2 processes
from a fresh kernel whose malloc adapted: each problem cloudpickled, with its chisq at the
start point (one evaluation, so that the worker can check its copy), unpickled, checked and
fitted in a pool process whose malloc adapted too. No job record, progress, summary or fit
process: what any design built on Celery pays at least, on CPUs it shares with the kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import services
from report import Row, p, spread

TITLE = "sweep of medium fits"
METHOD = (
    "60 fits (10 with `--quick`) of two Gaussian peaks seen through a Gaussian resolution "
    "(400 points, each the weighted sum of 300 samples: 30 to 100 ms per `lm` fit, the "
    'model shipped by value as from a notebook): `submit_many(problems, "lm", seed=S)` '
    "then `.results()` on the worker of 2 processes, sent from a fresh Python process (the "
    "kernel; timed inside it after 2 warm-up fits and a sweep of 2, its start and imports "
    "left out), alternating with the same fits one after the other in another such process; "
    "each pair once with glibc's malloc as it starts (a new kernel) and once with "
    "`MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864` (a kernel whose "
    "malloc has adapted, as after a long session, and as the worker's fit processes set "
    "it), the sweep and the serial fits from kernels alike (a kernel that evaluates its "
    "model slowly also encodes slowly: 2 evaluations a problem, 4 for the first of its kind); "
    "3 rounds (1 with "
    "`--quick`) after a sweep of 4 fits; the speed-up is serial time / sweep time, pair by "
    "pair. The worker's CPU per fit (its kernels' warm-up sweeps counted in) against the "
    "serial fits' (which the machine's load does not "
    "inflate as it does wall time) bounds what 2 processes can reach. In each round too, in "
    "fresh processes whose malloc adapted: the same fits shared out between 2 processes "
    "forked after the warm-up (the floor of any sweep on 2 processes: nothing encoded, sent "
    "or stored), and the CPU that encoding them as `submit_many` does takes; and the same "
    "fits sent as bare Celery tasks (`send_task`, then `.get()` on each) to a bare prefork "
    "worker of 2 processes (warmed with 4 fits first; its CPU per fit with the kernel's "
    "warm-up tasks counted in): each problem's cloudpickle bytes and its chisq at the start "
    "point (one evaluation) made in the kernel, unpickled, its chisq checked and fitted "
    '(`run_fit(problem, "lm", {}, seed)`) in the pool process, its malloc adapted as a fit '
    "process's (the floor of any Celery design: no job record, progress, summary or fit "
    "process)."
)
SPEEDUP_TARGET = 1.7
# glibc's thresholds as worker/fit/heap.py sets them in a fit process
ADAPTED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "67108864"}
WARMUP = 2
BARE_QUEUE = "bench-bare-medium"

SMEARED_PEAKS = """
import numpy as np

POINTS, SAMPLES, RESOLUTION = 400, 300, 0.3
OFFSETS = np.linspace(-3, 3, SAMPLES)
WEIGHTS = np.exp(-0.5 * OFFSETS**2)
WEIGHTS /= WEIGHTS.sum()

def two_peaks(x, A1, mu1, A2, mu2, sigma):
    # each point seen through the resolution: the weighted sum of SAMPLES points around it
    grid = x[:, None] + RESOLUTION * OFFSETS[None, :]
    peaks = A1 * np.exp(-0.5 * ((grid - mu1) / sigma) ** 2)
    peaks += A2 * np.exp(-0.5 * ((grid - mu2) / sigma) ** 2)
    return peaks @ WEIGHTS
"""


def smeared_problem():
    import numpy as np
    from bumps.names import Curve, FitProblem  # pyright: ignore[reportMissingImports]

    from tests.support.problems import user_module

    model = user_module(SMEARED_PEAKS, name="smeared_peaks_notebook_code")
    x = np.linspace(-6, 6, model.POINTS)
    rng = np.random.default_rng(1)
    y = model.two_peaks(x, 1.0, -1.2, 0.6, 1.5, 0.7) + rng.normal(0, 0.02, x.size)
    curve = Curve(
        model.two_peaks, x, y, np.full(x.size, 0.02), A1=0.8, mu1=-1.0, A2=0.5, mu2=1.0, sigma=0.5
    )
    curve.A1.range(0, 3)
    curve.mu1.range(-3, 0)
    curve.A2.range(0, 3)
    curve.mu2.range(0, 3)
    curve.sigma.range(0.1, 2)
    return FitProblem(curve)  # pyright: ignore[reportArgumentType]


def serial_in_a_kernel(
    count: int, seed: int, adapted: bool, mode: str = "serial", server=None, bare=None
) -> tuple[float, float]:
    """(seconds, CPU seconds) of `count` fits one after the other in a fresh Python process,
    its malloc as it starts or `adapted`; timed inside it, after WARMUP fits. `mode`
    "split": the fits shared out between 2 processes forked from it, the floor of any
    sweep on 2 processes (nothing encoded, sent or stored); "encode": not fitted but
    encoded as submit_many does; "pack": only made into the payload's bytes; "decode":
    rebuilt from their payloads as a fit process does (with its preflight chisq); "sweep":
    sent to `server` (a `jupyter server` of services) with `submit_many(...).results()`,
    after a sweep of the WARMUP problems; "celery": sent as bare Celery tasks to `bare` (a
    services.BareWorker), after the WARMUP problems sent so."""
    path = os.pathsep.join([str(services.REPO), str(services.BENCH)])
    env = {**os.environ, "PYTHONPATH": path}
    if server is not None:
        env.update(BENCH_SERVER_URL=server.url, BENCH_SERVER_TOKEN=server.token)
    if bare is not None:
        env.update(BENCH_BARE_REDIS_URL=bare.redis_url)
    for name in ADAPTED_MALLOC:
        env.pop(name, None)
    if adapted:
        env.update(ADAPTED_MALLOC)
    done = subprocess.run(
        [sys.executable, __file__, str(count), str(seed), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode:
        raise RuntimeError(f"the serial fits failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["seconds"], out["cpu"]


def send_pickled(app, problem, seed: int):
    """`problem` as a bare Celery task: the least a sweep sends, its cloudpickle bytes (the
    notebook's model by value, as submit_many pickles it) and its chisq at the start point,
    against which the worker checks its copy."""
    import base64

    from bare_celery import FIT_PICKLED

    from jupyter_bumps_remote.shared import bumps_compat, encodings

    data = base64.b64encode(encodings.pack(problem, encodings.PICKLE)).decode("ascii")
    with bumps_compat.memoized_chisq_scale():  # as transport.encode computes it
        chisq = float(problem.chisq())
    return app.send_task(FIT_PICKLED, args=[data, chisq, "lm", seed], queue=BARE_QUEUE)


def measure(base, quick: bool) -> list[Row]:
    with services.started(services.BareWorker(base.redis.url, BARE_QUEUE, concurrency=2)) as bare:
        return _measure(base, bare, quick)


def _measure(base, bare, quick: bool) -> list[Row]:
    from bare_celery import make_app

    n, rounds = (10, 1) if quick else (60, 3)
    seed = services.SEED
    worker_pid = base.worker.process.pid

    # the worker's processes warm
    base.remote.submit_many([smeared_problem() for _ in range(4)], "lm", seed=seed).results(600)
    # and the bare worker's: both import bumps and the model's modules, and set their malloc
    app = make_app(base.redis.url)
    for sent in [send_pickled(app, smeared_problem(), seed) for _ in range(4)]:
        sent.get(timeout=600)
    app.close()
    cpu = []  # the worker's CPU seconds per fit of a sweep
    kernels = {False: ([], []), True: ([], [])}  # adapted: ([seconds], [CPU s per fit])
    # each sweep sent from a kernel of the same malloc as the serial fits it is held up to:
    # a kernel that evaluates its model slowly encodes (2 evaluations each) slowly too
    remote = {False: [], True: []}
    # in a kernel whose malloc adapted: seconds; CPU s per problem
    split, encode, pack, decode = [], [], [], []
    celery, celery_cpu = [], []  # bare Celery tasks: seconds; the bare worker's CPU s per fit
    for _ in range(rounds):
        for adapted, (times, cpus) in kernels.items():
            before = services.session_cpu(worker_pid)
            remote[adapted].append(serial_in_a_kernel(n, seed, adapted, "sweep", base.server)[0])
            # the kernel's warm-up sweep of WARMUP fits counted in, as fits like the rest
            cpu.append((services.session_cpu(worker_pid) - before) / (n + WARMUP))
            seconds, own_cpu = serial_in_a_kernel(n, seed, adapted)
            times.append(seconds)
            cpus.append(own_cpu / n)
        split.append(serial_in_a_kernel(n, seed, True, "split")[0])
        before = services.session_cpu(bare.process.pid)
        celery.append(serial_in_a_kernel(n, seed, True, "celery", bare=bare)[0])
        celery_cpu.append((services.session_cpu(bare.process.pid) - before) / (n + WARMUP))
        encode.append(serial_in_a_kernel(n, seed, True, "encode")[1] / n)
        pack.append(serial_in_a_kernel(n, seed, True, "pack")[1] / n)
        decode.append(serial_in_a_kernel(n, seed, True, "decode")[1] / n)
    extra = job_extras(seed)
    steps = (
        f"what a job does that the fit in a kernel does not, measured here: decoding its "
        f"payload {extra['decode'] * 1000:.1f} ms, the summary's covariance "
        f"{extra['summary'] * 1000:.1f} ms, the session file's recipe "
        f"{extra['recipe'] * 1000:.1f} ms (the file, built only on request, "
        f"{extra['session'] * 1000:.1f} ms)"
    )
    processes = min(2, os.cpu_count() or 1)
    rows = []
    for adapted, label in ((False, "a new kernel"), (True, "a kernel whose malloc adapted")):
        times, cpus = kernels[adapted]
        speedup, figure = pairwise_speedup(times, remote[adapted])
        # the most 2 worker processes could reach on this machine's CPUs: CPU time is what
        # the machine's load cannot inflate the way it does wall time
        ceiling = processes * p(cpus) / p(cpu)
        cause = (
            f"CPU per fit: worker {p(cpu) * 1000:.1f} ms, the fit in {label} "
            f"{p(cpus) * 1000:.1f} ms: 2 processes reach {ceiling:.2f}× at most, however idle "
            "the machine"
        )
        if not adapted:
            rows.append(
                Row(
                    f"#17.2 sweep of {n} fits of ~{p(times) / n * 1000:.0f} ms, "
                    "`submit_many(...).results()`, worker of 2 processes: speed-up over the "
                    "same fits one after the other in a new kernel (a fresh Python process)",
                    figure,
                    f"≥ {SPEEDUP_TARGET}×",
                    speedup >= SPEEDUP_TARGET,
                    f"{cause}; {steps}",
                )
            )
        else:
            rows.append(
                Row(
                    f"&nbsp;&nbsp;… over the same fits in a kernel whose malloc adapted "
                    f"(~{p(times) / n * 1000:.0f} ms a fit)",
                    figure,
                    f"≥ {SPEEDUP_TARGET}×",
                    speedup >= SPEEDUP_TARGET,
                    cause,
                )
            )
            rows.append(celery_row(times, celery, celery_cpu, p(cpus)))

    def sec(seconds: float) -> str:
        return f"{seconds:.2f} s"

    serial, fit_cpu = p(kernels[True][0]), p(kernels[True][1])
    # what 2 CPUs shared by the kernel and the worker allow once the kernel has encoded the
    # problems, however little anything else costs: (fits + encoding) CPU over 2 CPUs
    with_encoding = 2 * fit_cpu / (fit_cpu + p(encode))
    # and the least a sweep sent away must do besides its fits: the problem made into bytes
    # in the kernel, rebuilt in the worker (with the one evaluation that checks it there)
    least = 2 * fit_cpu / (fit_cpu + p(pack) + p(decode))
    rows.append(
        Row(
            "&nbsp;&nbsp;floor: the same fits shared out between 2 processes forked from a "
            "kernel whose malloc adapted (nothing encoded, sent or stored)",
            f"{p(split):.2f} s: {serial / p(split):.2f}× its fits one after the other",
            "",
            None,
            "encoding a problem as `submit_many` does (the round trip of its kind checked "
            "once; the others' χ² at and away from the start point, 2 evaluations of the "
            "model) takes the kernel "
            f"{p(encode) * 1000:.1f} ms of CPU, against "
            f"{fit_cpu * 1000:.1f} ms for its fit: on this machine's 2 CPUs, shared by the "
            f"kernel and the worker, no sweep of these fits goes past {with_encoding:.2f}× "
            "however little the rest costs. The problem's bytes alone "
            f"({p(pack) * 1000:.1f} ms) and its rebuilding on the worker "
            f"({p(decode) * 1000:.1f} ms, its preflight chisq included) cap it at "
            f"{least:.2f}×",
        )
    )
    return rows + [
        Row("&nbsp;&nbsp;the sweep sent from a new kernel", spread(remote[False], unit=sec)),
        Row("&nbsp;&nbsp;the same fits in a new kernel", spread(kernels[False][0], unit=sec)),
        Row(
            "&nbsp;&nbsp;the sweep sent from a kernel whose malloc adapted",
            spread(remote[True], unit=sec),
        ),
        Row(
            "&nbsp;&nbsp;the same fits in a kernel whose malloc adapted",
            spread(kernels[True][0], unit=sec),
        ),
        Row(
            "&nbsp;&nbsp;the same fits as bare Celery tasks from a kernel whose malloc adapted",
            spread(celery, unit=sec),
        ),
    ]


def pairwise_speedup(serial: list[float], sent: list[float]) -> tuple[float, str]:
    """The p50 of serial / sent, pair by pair (rounds alike), and that figure in words."""
    speedups = [s / t for s, t in zip(serial, sent, strict=True)]
    speedup = p(speedups)
    return speedup, (
        f"{speedup:.2f}× (pair by pair p50; min {min(speedups):.2f}×, max "
        f"{max(speedups):.2f}×, n={len(speedups)})"
    )


def celery_row(serial: list[float], celery: list[float], cpu: list[float], fit_cpu: float) -> Row:
    """The bare Celery tasks' speed-up over the serial fits of the same rounds, pair by pair:
    what no design that sends these fits through Celery from this kernel goes past."""
    return Row(
        "&nbsp;&nbsp;floor of any Celery design: the same fits as bare Celery tasks (pickled, "
        "with their start χ²; unpickled, checked and fitted in the pool process), sent to a "
        "bare worker of 2 processes from a kernel whose malloc adapted",
        pairwise_speedup(serial, celery)[1],
        "",
        None,
        f"CPU per fit: bare worker {p(cpu) * 1000:.1f} ms, the fit in the kernel "
        f"{fit_cpu * 1000:.1f} ms: 2 processes reach {2 * fit_cpu / p(cpu):.2f}× at most",
    )


def job_extras(seed: int, rounds: int = 3) -> dict[str, float]:
    """CPU seconds (median of `rounds`) of the steps of a job besides its fit, here, warm:
    decoding the payload (with its preflight chisq), the result summary (with the covariance
    the fit computed for dx, as a job's), the session file's recipe (what an lm job sends in
    the file's place) and, for scale, the file itself (built only when asked for)."""
    from jupyter_bumps_remote.shared import transport
    from jupyter_bumps_remote.shared.bumps_compat import convergence_monitor
    from jupyter_bumps_remote.shared.fitting import run_fit
    from jupyter_bumps_remote.worker.fit.results import session_bytes, session_recipe, summarize

    steps: dict[str, list[float]] = {"decode": [], "summary": [], "recipe": [], "session": []}
    payload = transport.encode(smeared_problem(), transport.SWEEP_ENCODINGS)  # as a sweep sends it
    for _ in range(rounds):
        t0 = time.process_time()
        problem = transport.decode(payload)
        t1 = time.process_time()
        outcome = run_fit(problem, "lm", {}, seed, convergence=convergence_monitor(problem))
        result = outcome.result
        t2 = time.process_time()
        summarize(
            problem, result, seed=seed, options={}, partial=False, elapsed=0.0, cov=outcome.cov
        )
        t3 = time.process_time()
        session_recipe(problem, result, "cloudpickle")
        t4 = time.process_time()
        session_bytes(problem, result, "cloudpickle")
        t5 = time.process_time()
        steps["decode"].append(t1 - t0)
        steps["summary"].append(t3 - t2)
        steps["recipe"].append(t4 - t3)
        steps["session"].append(t5 - t4)
    return {name: p(values) for name, values in steps.items()}


def _serial_main(count: int, seed: int, mode: str) -> None:
    """In the fresh process: WARMUP fits, then `count` timed; one line of JSON."""
    import warnings

    from jupyter_bumps_remote.kernel.sweep_encoder import SweepEncoder  # (not timed)
    from jupyter_bumps_remote.shared import encodings, transport
    from jupyter_bumps_remote.shared.fitting import local_fit

    warnings.filterwarnings("ignore", message="Did not converge")
    for problem in [smeared_problem() for _ in range(WARMUP)]:
        local_fit(problem, "lm", seed)
        transport.encode(problem, transport.SWEEP_ENCODINGS)
    batch = [smeared_problem() for _ in range(count)]
    cpu, t0 = sum(os.times()[:4]), time.perf_counter()
    sweep = transport.SWEEP_ENCODINGS  # as submit_many encodes: pickled here
    if mode == "encode":  # as submit_many does: the round trip of its kind checked once
        encoder = SweepEncoder(sweep)
        for problem in batch:
            encoder.encode(problem)
    elif mode == "pack":  # the problem's bytes alone: no round trip, no chisq
        for problem in batch:
            encodings.to_text(encodings.pack(problem, sweep[0]))
    elif mode == "decode":  # rebuilt from its payload, as a worker's fit process does
        payloads = [transport.encode(problem, sweep) for problem in batch]
        cpu, t0 = sum(os.times()[:4]), time.perf_counter()
        for payload in payloads:
            transport.decode(payload)
    elif mode == "sweep":  # sent away from this kernel, as from a notebook
        import jupyter_bumps_remote as remote

        remote.connect(os.environ["BENCH_SERVER_URL"], os.environ["BENCH_SERVER_TOKEN"])
        warm = [smeared_problem() for _ in range(WARMUP)]  # its client and sending warm
        remote.submit_many(warm, "lm", seed=seed).results(600)
        cpu, t0 = sum(os.times()[:4]), time.perf_counter()
        results = remote.submit_many(batch, "lm", seed=seed).results(1800)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise RuntimeError(f"{len(failed)} fits of the sweep failed: {failed[0]}")
    elif mode == "celery":  # bare Celery tasks: the least any Celery design sends and does
        from bare_celery import make_app

        app = make_app(os.environ["BENCH_BARE_REDIS_URL"])
        warm = [smeared_problem() for _ in range(WARMUP)]  # its connections and pickling warm
        for sent in [send_pickled(app, problem, seed) for problem in warm]:
            sent.get(timeout=600)
        cpu, t0 = sum(os.times()[:4]), time.perf_counter()
        for sent in [send_pickled(app, problem, seed) for problem in batch]:
            sent.get(timeout=1800)
    elif mode == "split":
        children = []
        for share in (batch[0::2], batch[1::2]):
            child = os.fork()
            if child == 0:  # warm as the kernel is, as a kept fit process is
                for problem in share:
                    local_fit(problem, "lm", seed)
                os._exit(0)
            children.append(child)
        for child in children:
            os.waitpid(child, 0)
    else:
        for problem in batch:
            local_fit(problem, "lm", seed)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "cpu": sum(os.times()[:4]) - cpu}))


if __name__ == "__main__":
    _serial_main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
