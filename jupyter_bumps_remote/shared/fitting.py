"""Run one bumps fit exactly as `bumps.fitters.fit` does, plus monitors, abort and seed.

`bumps.fitters.fit` takes no monitors and no abort test, so the worker cannot call it; this
module follows the same steps (same ConvergenceMonitor, `clip` first, seeded RNGs; a mapper
only evaluates points, in order, so a faster one changes nothing) so that
`seed_fit(seed); bumps.fitters.fit(problem, method, **opts)` in a kernel gives the same x,
chisq and DREAM chains as the remote fit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bumps_compat import convergence_monitor, now_string
from .fork_mapper import ForkPoolMapper
from .jobs import COMMON_OPTIONS


class BestPointMonitor:
    """Tracks the best point seen, because bumps' newton returns its start point on abort."""

    def __init__(self):
        self.value = np.inf
        self.point = None

    def config_history(self, history):
        history.requires(point=1, value=1)

    def __call__(self, history):
        value = history.value[0]
        if value < self.value:
            self.value = float(value)
            self.point = np.array(history.point[0], dtype=float)


@dataclass
class FitOutcome:
    result: object  # scipy OptimizeResult, as bumps.fitters.fit returns
    aborted: bool
    # `problem.cov(result.x)` when bumps computed it for `dx` (fitters with neither their own
    # stderr nor their own covariance), so that the summary need not compute it again
    cov: np.ndarray | None = None
    # DREAM's per-parameter statistics of its sample (bumps.dream.stats.var_stats), from
    # which its dx is derived: the summary's DREAM statistics are the same, not drawn again
    sample_stats: list | None = None


def seed_fit(seed: int) -> None:
    """Seed every random number generator a bumps fit draws from, in this thread.

    `np.random.seed(seed)` alone is not enough where numba is installed (refl1d requires it):
    bumps' DREAM then compiles its proposal step with numba (`bumps.dream.diffev.de_step`,
    `bumps.dream.util.draw`), and `np.random` inside compiled code draws from numba's own
    generator, one per thread, seeded from the OS when a process starts (or forks) and
    untouched by `np.random.seed`. So `seed_fit(seed); bumps.fitters.fit(...)` reproduces a
    remote fit where `np.random.seed(seed); bumps.fitters.fit(...)` does not. Without numba
    it is `np.random.seed(seed)`, so results that reproduced before are unchanged.
    Call it in the thread that runs the fit (numba's generator is per thread).
    """
    np.random.seed(seed)
    if _numba_importable():
        _seed_numba(seed)


@functools.cache
def _numba_importable() -> bool:
    """The condition under which bumps' DREAM uses numba (optional). Asked once: a failed
    import is not remembered by Python, and each searched sys.path again, at every fit."""
    try:
        import numba  # noqa: F401  # pyright: ignore[reportMissingImports]
    except ImportError:
        return False
    return True


def _seed_numba(seed: int) -> None:
    """What compiled `np.random.seed(seed)` does: `numba_rnd_init` on this thread's state.

    numba's helper module does it directly (instant, where compiling the call is slow in a
    fresh process); compiled `np.random.seed` is the public way, if that private name goes.
    """
    try:
        from numba import _helperlib  # pyright: ignore[reportMissingImports] - optional

        _helperlib.rnd_seed(_helperlib.rnd_get_np_state_ptr(), seed)
    except (ImportError, AttributeError):
        _compiled_numba_seed()(seed)


@functools.cache
def _compiled_numba_seed():
    import numba  # pyright: ignore[reportMissingImports] - optional

    return numba.njit(_np_random_seed)


def _np_random_seed(seed):
    np.random.seed(seed)  # compiled by numba: seeds numba's generator, not numpy's


def fitter_class(fitter: str):
    from bumps import fitters

    for cls in fitters.FITTERS:
        if cls.id == fitter:
            return cls
    raise KeyError(fitter)


def bumps_options(options: dict) -> dict:
    """The options that go to the fitter itself (not parallel/max_time)."""
    return {k: v for k, v in options.items() if k not in COMMON_OPTIONS}


def run_fit(
    problem,
    fitter: str,
    options: dict,
    seed: int,
    monitors=(),
    abort_test=None,
    convergence=None,
    fit_state=None,
    random_state=None,
):
    """Fit `problem`; returns a FitOutcome whose result matches bumps.fitters.fit's.

    `convergence` is the ConvergenceMonitor to use, for a caller that reads its rows live.
    `fit_state` resumes the fit from the fitter's state, as `bumps.fitters.fit(resume=...)`
    does (`FitDriver.fit(fit_state=...)`), with numpy's random state `random_state`.
    """
    from bumps.fitters import FitDriver
    from bumps.mapper import SerialMapper
    from scipy.optimize import OptimizeResult

    parallel = options.get("parallel", 1)
    max_time = options.get("max_time", 0.0)
    fit_options = bumps_options(options)
    aborted = [False]

    def stop_requested():
        if abort_test is not None and abort_test():
            aborted[0] = True
        return aborted[0]

    seed_fit(seed)
    if random_state is not None:
        np.random.set_state(random_state)
    mapper = (
        ForkPoolMapper(problem, parallel)
        if parallel != 1
        else SerialMapper.start_mapper(problem, [], cpus=1)
    )
    convergence = convergence or convergence_monitor(problem)
    best = BestPointMonitor()
    driver = FitDriver(
        fitclass=fitter_class(fitter),
        problem=problem,
        monitors=[convergence, best, *monitors],
        abort_test=stop_requested,
        mapper=mapper,
        time=max_time / 3600.0,
        **fit_options,
    )
    try:
        driver.clip()
        x, fx = driver.fit(fit_state=fit_state)
    finally:
        if isinstance(mapper, ForkPoolMapper):
            mapper.close()
    # History gains its traces (time, step, ...) at run time, from what the monitors require
    history: Any = driver.monitor_runner.history
    timed_out = bool(max_time) and history.time[0] >= max_time
    if (aborted[0] or timed_out) and best.point is not None and best.value < fx:
        x, fx = best.point, best.value
    problem.setp(x)
    dx, sample_stats = _stderr(driver)
    result = OptimizeResult(
        x=np.asarray(x),
        fun=fx,
        success=True,
        status=0,
        message="successful termination",
        nit=history.step[0],
        dx=dx,
        dof=problem.dof,
        labels=problem.labels(),
        numpoints=problem.model_points(),
        chisq=problem.chisq(nllf=fx),
        timestamp=now_string(),
        state=driver.fitter.state,  # pyright: ignore[reportOptionalMemberAccess] - set by fit()
        convergence=np.array(convergence.quantiles),
        method=fitter,
        options=fit_options,
    )
    return FitOutcome(
        result=result,
        aborted=aborted[0] or timed_out,
        cov=_covariance_of_dx(driver, x),
        sample_stats=sample_stats,
    )


def _stderr(driver) -> tuple[np.ndarray, list | None]:
    """`driver.stderr()`, and for DREAM the statistics of its sample that dx comes from.

    bumps' DreamFit.stderr is half the 68% interval of `var_stats(state.draw())`; the
    summary reports those same statistics (mean, median, intervals). Computing them twice
    costs a long fit's summary 7-15 ms (a 2000-step gaussian), so for bumps' own DreamFit
    they are computed here once and dx derived from them exactly as bumps does
    (tests/unit/test_dream_sample_stats.py compares it with `DreamFit.stderr`, to the bit,
    on the bumps installed). Any other fitter, a subclass or a multi-start goes through
    `driver.stderr()`.
    """
    from bumps.fitters import DreamFit

    fitter = driver.fitter
    state = getattr(fitter, "state", None)
    if type(fitter) is not DreamFit or state is None or not hasattr(state, "draw"):
        return driver.stderr(), None
    from bumps.dream.stats import var_stats

    stats = var_stats(state.draw())
    return np.array([(v.p68[1] - v.p68[0]) / 2 for v in stats], "d"), stats


def _covariance_of_dx(driver, x) -> np.ndarray | None:
    """The covariance `driver.stderr()` computed as `problem.cov(x)`, or None.

    bumps' driver derives dx from `problem.cov` (a numerical Jacobian or Hessian around the
    best point: 15-20 ms for a 5-parameter model of 400 points) unless the fitter has its own
    stderr (DREAM: its sample) or its own covariance; the summary's `cov` is `problem.cov(x)`
    for every fitter. Only that case and the same x are the same computation; anything else
    (an aborted fit's best point, a fitter's own covariance, a bumps without the cache) is
    None and the summary computes it, as before.
    """
    fitter = driver.fitter
    if hasattr(fitter, "stderr") or hasattr(fitter, "cov"):
        return None
    cov = getattr(driver, "_cov", None)  # bumps' cache of driver.cov(); private, hence guarded
    at = getattr(driver, "result", None)
    if cov is None or at is None or at[0] is None or not np.array_equal(at[0], x):
        return None
    return np.asarray(cov, dtype=float)


def local_fit(problem, fitter: str, seed: int, **options):
    """The same fit in this process: what a remote job reproduces bit for bit."""
    return run_fit(problem, fitter, options, seed).result
