"""A bumps problem to a payload and back.

The payload is a JSON envelope: versions, a parameter summary and a preflight chisq that
anyone (the server, a UI) may read safely, around the problem itself as serialized by
`bumps.serialize` (zlib + base64). Model functions travel inside as cloudpickle, so the
inner problem is code: only a worker's fit process decodes it (`decode`).
"""

from __future__ import annotations

import base64
import json
import math
import re
import warnings
import zlib

from . import versions

FORMAT = "jupyter-bumps-remote/1"
ENCODING = "bumps-serialize+zlib+base64"
# A problem rebuilt from its payload must give the same chisq as in the kernel; the
# arithmetic is identical, so anything beyond rounding noise means a different model.
PREFLIGHT_RTOL = 1e-9
_BUMPS_REBUILD_WARNING = r"Error (loading function|restoring)"
_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


class PayloadError(Exception):
    """A payload that cannot become the problem it was made from; says why and what to do."""

    def __init__(self, cause: str, fix: str):
        super().__init__(f"{cause}. {fix}")
        self.cause = cause
        self.fix = fix


def as_fit_problem(problem):
    """Accept a FitProblem or a single fitness model (Curve, …) and return a FitProblem."""
    from bumps.fitproblem import FitProblem

    if isinstance(problem, FitProblem):
        return problem
    if hasattr(problem, "nllf") and hasattr(problem, "parameters"):
        return FitProblem(problem)
    raise TypeError(
        f"expected a bumps FitProblem (or a model such as Curve), got {type(problem).__name__}; "
        "build one with bumps.names.FitProblem(model)"
    )


def parameter_summary(problem) -> list[dict]:
    low, high = problem.bounds()
    return [
        {"name": name, "value": _json_float(value), "bounds": [_json_float(lo), _json_float(hi)]}
        for name, value, lo, hi in zip(problem.labels(), problem.getp(), low, high, strict=True)
    ]


def _json_float(value) -> float | None:
    """JSON has no inf/nan: infinite bounds are null, as in bumps' own serializer."""
    value = float(value)
    return value if math.isfinite(value) else None


def encode(problem) -> dict:
    """The payload for `problem`: a JSON-able envelope."""
    from bumps.serialize import serialize

    problem = as_fit_problem(problem)
    inner = json.dumps(serialize(problem), separators=(",", ":")).encode()
    return {
        "format": FORMAT,
        "environment": versions.environment(),
        "parameters": parameter_summary(problem),
        "chisq": _json_float(problem.chisq()),
        "encoding": ENCODING,
        "problem": base64.b64encode(zlib.compress(inner, 6)).decode("ascii"),
    }


def read_envelope(raw: bytes | str | dict) -> dict:
    """Parse and check the envelope without touching the problem inside (safe anywhere)."""
    try:
        envelope = raw if isinstance(raw, dict) else json.loads(raw)
    except (ValueError, TypeError) as e:
        raise PayloadError("the payload is not JSON", "Re-encode the problem with encode()") from e
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise PayloadError(
            f"the payload is not in the {FORMAT} format",
            "Create it with jupyter_bumps_remote.transport.encode()",
        )
    env = envelope.get("environment")
    if not isinstance(env, dict) or not all(
        isinstance(env.get(k), str) for k in ("python", "bumps")
    ):
        raise PayloadError("the payload has no environment versions", "Re-encode it with encode()")
    if envelope.get("encoding") != ENCODING or not isinstance(envelope.get("problem"), str):
        raise PayloadError("the payload carries no problem", "Re-encode it with encode()")
    return envelope


def check_environment(envelope: dict) -> None:
    """Refuse a payload pickled elsewhere before decoding it: it could crash the process."""
    why = versions.mismatch(envelope["environment"], versions.environment())
    if why is not None:
        raise PayloadError(*why)


def decode(raw: bytes | str | dict, *, verify: bool = True):
    """Rebuild the problem (worker side). Raises PayloadError naming the cause and the fix."""
    from bumps.serialize import deserialize

    envelope = read_envelope(raw)
    check_environment(envelope)
    try:
        inner = json.loads(zlib.decompress(base64.b64decode(envelope["problem"], validate=True)))
    except (ValueError, zlib.error) as e:
        raise PayloadError(
            "the problem inside the payload is corrupt", "Re-encode the problem with encode()"
        ) from e
    try:
        # A model function whose module is missing here deserializes to None with only a
        # warning, and every chisq after it is nan: make bumps' own "Error ..." warnings
        # errors with their reason (other warnings, e.g. deprecations, stay warnings).
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=_BUMPS_REBUILD_WARNING)
            problem = deserialize(inner)
    except Exception as e:  # noqa: BLE001 - any failure here is the payload's, reported as such
        # bumps reports a missing module inside a warning or a RuntimeError's text.
        missing = _MISSING_MODULE.search(str(e))
        if missing:
            raise PayloadError(
                f"the problem needs the module {missing[1]!r}, which this worker cannot import",
                f"Install {missing[1]!r} where the workers run (same version as in the kernel)",
            ) from e
        raise PayloadError(
            f"the problem could not be rebuilt on the worker ({type(e).__name__}: {e})",
            "Check that the problem builds locally from the same data (dy must be > 0) and "
            "that every module the model uses is installed on the workers",
        ) from e
    try:
        problem = as_fit_problem(problem)
    except TypeError as e:
        raise PayloadError(f"the payload holds no fit problem ({e})", "Encode a FitProblem") from e
    if verify:
        verify_preflight(problem, envelope.get("chisq"))
    return problem


def verify_preflight(problem, expected) -> float:
    """Recompute chisq at the start point and compare it with the kernel's own value."""
    try:
        # FitProblem.chisq() swallows a model's exception and returns nan; the models'
        # own nllf() lets it through, so the user sees the real error.
        for model in problem.models:
            model.nllf()
        chisq = float(problem.chisq())
    except Exception as e:  # noqa: BLE001 - the user's model raised; report it as the cause
        raise PayloadError(
            f"the model raised {type(e).__name__}: {e} when evaluated at the start point",
            "Fix the model so that problem.chisq() works locally before submitting",
        ) from e
    if not math.isfinite(chisq):
        raise PayloadError(
            f"chisq is {chisq} at the start point",
            "Check the model, the data (dy must be > 0) and the start values: "
            "problem.chisq() must be finite locally",
        )
    if not isinstance(expected, int | float) or not math.isclose(
        chisq, expected, rel_tol=PREFLIGHT_RTOL
    ):
        raise PayloadError(
            f"the worker computes chisq {chisq!r} at the start point but the kernel computed "
            f"{expected!r}; the model behaves differently on the worker",
            "Make sure the worker has the same versions of the model's packages and data",
        )
    return chisq
