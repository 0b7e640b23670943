"""Is a decoded problem the problem it was encoded from? What differs, in words, if not.

Compared: the fitted parameters (count and names, in order), chisq at the start point, and
chisq at a second point a little away from it. The second point catches a copy that lost
the link between two uses of one parameter but whose start values still agree (a pickled
callable holding its own copy of a parameter that is fitted elsewhere, docs/transport.md).
"""

from __future__ import annotations

import math

import numpy as np

# Bounds may be infinite: a move of this much of the value (or of 1) then.
_STEP = 0.05


def difference(original, copy, rtol: float, chisq: float | None = None) -> str | None:
    """None when `copy` is the same problem as `original`; else what the copy has that
    differs ("25 fitted parameters instead of 17; …").

    `chisq`: the original's chisq at its start point, if known (saves an evaluation). The
    original ends at its start point again."""
    names, copied_names = list(original.labels()), list(copy.labels())
    if names != copied_names:
        return parameters_differ(names, copied_names)
    start = np.asarray(original.getp(), dtype=float)
    ours = _chisq(original) if chisq is None else float(chisq)
    theirs = _chisq(copy)
    if not same_chisq(ours, theirs, rtol):
        return f"chisq {theirs!r} instead of {ours!r} at the start point"
    if not len(start):
        return None
    moved = moved_point(start, original.bounds())
    try:
        original.setp(moved)
        copy.setp(moved)
        ours, theirs = _chisq(original), _chisq(copy)
    finally:
        original.setp(start)
    return None if same_chisq(ours, theirs, rtol) else moved_chisq_differs(ours, theirs)


def moved_chisq_differs(ours: float, theirs: float) -> str:
    """What the copy has, in words, when its χ² away from the start point is not ours."""
    return (
        f"chisq {theirs!r} instead of {ours!r} a little away from the start point (each "
        f"parameter moved by {_STEP:.0%} of its range): the copy computes another model "
        "(for example, a parameter used in two places became two parameters)"
    )


def chisq_moved(problem) -> float | None:
    """χ² at `moved_point` of the problem's start point (nan where the model raises), the
    problem back at its start after; None for a problem with no fitted parameter."""
    start = np.asarray(problem.getp(), dtype=float)
    if not len(start):
        return None
    try:
        problem.setp(moved_point(start, problem.bounds()))
        return _chisq(problem)
    finally:
        problem.setp(start)


def moved_point(start: np.ndarray, bounds) -> np.ndarray:
    """Each parameter moved a little, inside its bounds (up, or down where up is out)."""
    low, high = (np.asarray(b, dtype=float) for b in bounds)
    width = np.where(np.isfinite(high - low), high - low, np.maximum(np.abs(start), 1.0))
    step = _STEP * width
    up = start + step
    return np.where(up <= high, up, np.maximum(start - step, low))


def _chisq(problem) -> float:
    try:
        return float(problem.chisq())
    except Exception:  # noqa: BLE001 - a model that raises is compared as nan on both sides
        return math.nan


def same_chisq(a: float, b: float, rtol: float) -> bool:
    """Equal within `rtol`; nan only equals nan, an infinity only itself."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return math.isclose(a, b, rel_tol=rtol)


def parameters_differ(names: list[str], copied: list[str]) -> str:
    text = f"{len(copied)} fitted parameters instead of {len(names)}"
    extra = sorted({n for n in copied if copied.count(n) > names.count(n)})
    missing = sorted({n for n in names if names.count(n) > copied.count(n)})
    if extra:
        text += f"; extra: {', '.join(extra[:8])}" + ("…" if len(extra) > 8 else "")
    if missing:
        text += f"; missing: {', '.join(missing[:8])}" + ("…" if len(missing) > 8 else "")
    if not extra and not missing:
        text += f"; in another order: {copied[:8]}"
    return text
