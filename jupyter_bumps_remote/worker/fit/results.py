"""What a finished fit leaves behind: a JSON summary and a bumps session file, or the recipe
that builds that file on request."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

from ...shared import bumps_compat
from ...shared.settings import ENV_PREFIX


def summarize(
    problem,
    result,
    *,
    seed: int,
    options: dict,
    partial: bool,
    elapsed: float,
    cov: np.ndarray | None = None,
    sample_stats: list | None = None,
) -> dict:
    """The result summary stored as JSON: everything a client shows without bumps.

    `cov` is `problem.cov(result.x)` when the fit already computed it
    (`FitOutcome.cov`): the same numbers, without a second numerical Jacobian;
    `sample_stats` DREAM's `var_stats(state.draw())` when the fit already computed them for
    dx (`FitOutcome.sample_stats`): the same statistics, without drawing them again."""
    from bumps import lsqerror

    x = np.asarray(result.x, dtype=float)
    try:
        if cov is None:
            cov = np.asarray(problem.cov(x), dtype=float)
        stderr = lsqerror.stderr(cov)
    except Exception:  # noqa: BLE001 - a singular or failing Hessian leaves no covariance
        cov, stderr = None, None
    return {
        "x": _list(x),
        "dx": _list(result.dx),
        "chisq": _num(result.chisq),
        "nllf": _num(result.fun),
        "labels": list(result.labels),
        "cov": _list(cov),
        "stderr": _list(stderr),
        "convergence": _list(problem.chisq(nllf=np.asarray(result.convergence))),
        "nit": int(result.nit),
        "dof": _num(result.dof),
        "numpoints": int(result.numpoints),
        "method": result.method,
        "options": options,
        "seed": seed,
        "partial": partial,
        "elapsed": elapsed,
        "dream": dream_statistics(result.state, result.labels, sample_stats),
    }


def dream_statistics(state, labels, stats: list | None = None) -> dict | None:
    """Mean, median, std and 68%/95% intervals per parameter, as bumps reports them;
    `stats`: `var_stats(state.draw())` if already computed."""
    if state is None or not hasattr(state, "draw"):
        return None
    if stats is None:
        from bumps.dream.stats import var_stats

        stats = var_stats(state.draw())
    return {
        "parameters": [
            {
                "label": label,
                "mean": _num(s.mean),
                "median": _num(s.median),
                "std": _num(s.std),
                "p68": _list(s.p68),
                "p95": _list(s.p95),
                "best": _num(s.best),
            }
            for label, s in zip(labels, stats, strict=False)
        ],
        "generations": int(state.generation),
        "draws": int(state.draws),
    }


def session_bytes(problem, result, serializer: str = "dataclass") -> bytes:
    """The bumps session HDF5 that `bumps.fitters.load_fit_from_session` and webview open.

    `serializer` is how the problem is stored in it: bumps' own "dataclass" JSON, or
    "cloudpickle" for a problem that travelled pickled because that JSON would change it
    (docs/transport.md); bumps' loader reads both."""
    if not hasattr(result.state, "total_generations"):
        # bumps 1.0.5's load_fit_from_session reads `total_generations` from any stored state
        # and fails on de's dict state; only DREAM's MCMCDraw is worth keeping for a reload.
        result = type(result)({**result, "state": None})
    fd, path = tempfile.mkstemp(suffix=".h5", prefix="bumps-remote-")
    os.close(fd)
    os.unlink(path)  # a session file is appended to when it exists; start a new one
    try:
        _write_session(path, problem, result, serializer)
        with open(path, "rb") as f:
            return f.read()
    finally:
        if os.path.exists(path):
            os.unlink(path)


def deferrable(result) -> bool:
    """Whether the fit's session file can be built later from the problem and a recipe
    (`session_recipe`): its state is not one the file keeps (only DREAM's is: `session_bytes`
    drops the others), so the file holds nothing but the problem at the fit's point, its
    convergence, method and options. A DREAM fit's file is written at once: its state
    cannot be rebuilt (docs/design.md#session-files)."""
    return not hasattr(result.state, "total_generations")


RECIPE_VERSION = 1


def session_recipe(problem, result, serializer: str = "dataclass") -> dict:
    """All that `session_bytes(problem, result, serializer)` reads besides the problem as
    its payload decodes: the point the fit left the problem at, the raw convergence array,
    the method and options. `session_from_recipe` writes the same file from it."""
    return {
        "version": RECIPE_VERSION,
        "x": np.asarray(problem.getp(), dtype=float).tolist(),
        "convergence": np.asarray(result.convergence, dtype=float).tolist(),
        "method": result.method,
        "options": result.options,
        "serializer": serializer,
    }


def session_from_recipe(problem, recipe: dict) -> bytes:
    """The session file of a fit, from its problem (decoded afresh from its payload) and the
    recipe its fit process sent (`session_recipe`). Raises ValueError for a recipe that is
    not one: it comes from the job's fit process, which ran the owner's code."""
    from scipy.optimize import OptimizeResult

    if not isinstance(recipe, dict) or recipe.get("version") != RECIPE_VERSION:
        raise ValueError("not a session recipe of this version")
    serializer = recipe.get("serializer")
    if serializer not in ("dataclass", "cloudpickle"):
        raise ValueError(f"a recipe with serializer {serializer!r}")
    x = np.asarray(recipe.get("x"), dtype=float)
    if x.shape != np.shape(problem.getp()):
        raise ValueError(f"a recipe of {x.size} parameters for a problem of {len(problem.getp())}")
    problem.setp(x)
    result = OptimizeResult(
        method=str(recipe.get("method")),
        options=recipe.get("options") or {},
        convergence=np.asarray(recipe.get("convergence"), dtype=float),
        state=None,
    )
    return session_bytes(problem, result, serializer)


def _write_session(path: str, problem, result, serializer: str) -> None:
    if serializer == "dataclass":
        from bumps.fitters import save_fit

        save_fit(path, problem, result)
        return
    # bumps.fitters.save_fit with the problem's serializer chosen: it always writes
    # "dataclass", which loses parameters shared inside callable objects (refl1d's polymer
    # layers: docs/transport.md), so their session file would reopen another problem.
    session = bumps_compat.session_state()
    state = session.State()
    state.problem = session.ProblemState(fitProblem=problem, serializer=serializer)
    state.fitting = session.FitResult(
        method=result.method,
        options=result.options,
        convergence=result.convergence,
        fit_state=result.state,
    )
    state.shared.active_history = state.save_to_history(
        label=f"Fit complete: {result.method}", keep=True
    )
    state.write_session_file(path)


def too_large(size: int, limit: int) -> str:
    """session_error of a session file over the worker's limit."""
    return (
        f"the session file ({size / 2**20:.1f} MiB) is over the workers' limit of "
        f"{limit / 2**20:.1f} MiB ({ENV_PREFIX}MAX_SESSION_BYTES); the result is complete "
        f"without it"
    )


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _list(values):
    """Nested lists of floats for JSON, which has no nan or inf: those become null."""
    if values is None:
        return None
    array = np.asarray(values, dtype=float)
    if np.isfinite(array).all():  # the usual case, at once: a DREAM convergence table is
        return array.tolist()  # 12,000 values, ~8 ms walked one by one
    return _finite_or_none(array.tolist())


def _finite_or_none(value):
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value if math.isfinite(value) else None
