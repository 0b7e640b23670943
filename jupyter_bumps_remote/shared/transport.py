"""A bumps problem to a payload and back.

The payload is a JSON envelope: versions, a parameter summary, a preflight chisq and the
name of the encoding, that anyone (the server, a UI) may read safely, around the problem
itself (zlib + base64). The problem travels as `bumps.serialize` makes it when that gives
back the same problem, else pickled whole with cloudpickle (encodings.py; the kernel checks
which before sending, docs/transport.md). Model functions travel as cloudpickle either way,
so the inner problem is code: only a worker's fit process decodes it (`decode`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re

from . import bounded_json, bumps_compat, encodings, versions

FORMAT = "jupyter-bumps-remote/1"
ENCODING = encodings.SERIALIZE
PICKLE_ENCODING = encodings.PICKLE
ENCODINGS = encodings.ALL
# A sweep's members try the pickle first: the same workers rebuild either (their queue names
# bumps and each model library exactly), and a pickle is quicker to make, check and rebuild
# (docs/transport.md#the-two-encodings)
SWEEP_ENCODINGS = (PICKLE_ENCODING, ENCODING)
# A problem rebuilt from its payload must give the same chisq as in the kernel; the
# arithmetic is identical, so anything beyond rounding noise means a different model.
PREFLIGHT_RTOL = 1e-9
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


def encode(problem, order: tuple[str, ...] | None = None) -> dict:
    """The payload for `problem`: a JSON-able envelope.

    The problem travels in the first encoding of `order` (ENCODINGS: `bumps.serialize`,
    else a pickle) that decodes, here, to the same problem (same fitted parameters, same
    chisq). Raises PayloadError saying what differs when none does."""
    problem = as_fit_problem(problem)
    with bumps_compat.memoized_chisq_scale():  # (chisq() five times: bumps_compat.py)
        encoding, data, chisq = choose_encoding(problem, order)
    return _envelope(problem, encoding, data, chisq)


def encode_unchecked(problem, encoding: str) -> dict | None:
    """The payload for `problem` in `encoding`, its round trip checked by the worker instead
    of here; None if it does not pack. For a sweep's member whose kind's first member was
    checked and travels in `encoding` (kernel/sweep_encoder.py). The envelope carries what
    the kernel's check compares: the parameters' names, the χ² at the start point and a
    little away from it (`moved_chisq`); the worker's preflight compares its copy with them
    (`_verify_moved_chisq`): two evaluations of the model here instead of four."""
    from . import sameness  # numpy: not for the server, which only reads envelopes

    problem = as_fit_problem(problem)
    try:
        data = encodings.pack(problem, encoding)  # before any evaluation, as encode() does
    except Exception:  # noqa: BLE001 - the caller checks this one as the first of a kind
        return None
    with bumps_compat.memoized_chisq_scale():
        chisq = float(problem.chisq())
        moved = sameness.chisq_moved(problem)
    envelope = _envelope(problem, encoding, data, chisq)
    envelope["round_trip_checked"] = False
    if moved is not None:
        envelope["moved_chisq"] = _json_float(moved)
    return envelope


def _envelope(problem, encoding: str, data: bytes, chisq: float) -> dict:
    return {
        "format": FORMAT,
        # after the model's evaluations: a library it imports when called counts too
        # (versions.libraries_used looks only while a model library is imported)
        "environment": versions.environment(problem),
        "parameters": parameter_summary(problem),
        "chisq": _json_float(chisq),
        "encoding": encoding,
        "problem": encodings.to_text(data),
    }


def choose_encoding(problem, order: tuple[str, ...] | None = None) -> tuple[str, bytes, float]:
    """(encoding, bytes, chisq at the start point) of the first encoding of `order`
    (ENCODINGS) whose round trip gives the same problem."""
    tried, chisq = [], None
    for encoding in order or ENCODINGS:
        try:
            data = encodings.pack(problem, encoding)
        except Exception as e:  # noqa: BLE001 - any failure means: try the next encoding
            tried.append((encoding, f"cannot encode it ({type(e).__name__}: {e})"))
            continue
        if chisq is None:
            # after the first encoding: it holds the model as the user left it, before any
            # evaluation here (a model with state, a call counter say, sees no difference)
            chisq = float(problem.chisq())
        why = round_trip_difference(problem, encoding, data, chisq)
        if why is None:
            return encoding, data, chisq
        tried.append((encoding, why))
    raise PayloadError(
        "the problem cannot be sent unchanged ("
        + "; ".join(f"{_ENCODING_NAMES[e]}: {why}" for e, why in tried)
        + ")",
        "Fit it locally, or make the model picklable so that "
        "pickle.loads(cloudpickle.dumps(problem)) gives the same parameters and chisq "
        "(docs/transport.md: when a problem cannot be sent)",
    )


_ENCODING_NAMES = {encodings.SERIALIZE: "bumps.serialize", encodings.PICKLE: "pickle"}


def round_trip_difference(
    problem, encoding: str, data: bytes, chisq: float | None = None
) -> str | None:
    """What decoding `data` here would change in `problem`, in words; None if nothing.

    The copy is made and evaluated as on the worker (`forget_cached_theory` included)."""
    from . import sameness  # numpy: not for the server, which only reads envelopes

    with _quiet_bumps_logging():
        try:
            copy = as_fit_problem(encodings.unpack(encoding, data))
            forget_cached_theory(copy)
        except Exception as e:  # noqa: BLE001 - a copy that does not build is a difference
            return f"the copy does not build ({type(e).__name__}: {e})"
        why = sameness.difference(problem, copy, PREFLIGHT_RTOL, chisq)
    return None if why is None else f"the copy has {why}"


def forget_cached_theory(problem) -> None:
    """A pickled model may carry the theory the kernel computed last: setting the same
    parameter values again makes every model recompute, so a check evaluates the model
    where it runs instead of reading the kernel's numbers."""
    problem.setp(problem.getp())


@contextlib.contextmanager
def _quiet_bumps_logging():
    """bumps logs a traceback for each part it cannot rebuild, and for a model that raises
    in chisq(); here that only means the other encoding is tried, or that a model fails
    the same way on both sides, which the user need not see."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


def read_envelope(raw: bytes | str | dict) -> dict:
    """Parse and check the envelope without touching the problem inside (safe anywhere).

    What the server keeps of it is checked strictly: the environment (its strings become
    Celery queue names and Redis keys) and the parameter summary (stored on the job record,
    shown by every client)."""
    try:
        if isinstance(raw, dict):
            envelope = raw
            bounded_json.check_depth(envelope)
        else:
            envelope = bounded_json.loads(raw)  # checks the depth itself
    except bounded_json.TooDeep as e:
        raise PayloadError(f"the payload is not a problem's envelope ({e})", _REENCODE) from e
    except (ValueError, TypeError) as e:
        raise PayloadError("the payload is not JSON", "Re-encode the problem with encode()") from e
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise PayloadError(
            f"the payload is not in the {FORMAT} format",
            "Create it with jupyter_bumps_remote.shared.transport.encode()",
        )
    env = envelope.get("environment")
    if not isinstance(env, dict) or not all(
        isinstance(env.get(k), str) for k in ("python", "bumps")
    ):
        raise PayloadError("the payload has no environment versions", "Re-encode it with encode()")
    _check_environment_fields(env)
    _check_parameters(envelope.get("parameters"))
    if not isinstance(envelope.get("problem"), str):
        raise PayloadError("the payload carries no problem", "Re-encode it with encode()")
    if envelope.get("encoding") not in ENCODINGS:
        raise PayloadError(
            f"the payload carries no problem in an encoding this version reads "
            f"({_shown(envelope.get('encoding'))}; it reads {', '.join(ENCODINGS)})",
            "Re-encode it with encode(), with the same jupyter-bumps-remote on the kernel "
            "and the workers",
        )
    return envelope


# -- the envelope's limits ----------------------------------------------------------------------

# A version as Python packages write them (PEP 440, plus the "+" of a Python built from a
# source checkout): these strings become parts of Celery queue names and Redis keys, so no
# ":", "*", space, brace, slash or quote.
VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}"
_VERSION = re.compile(VERSION_PATTERN)
# A model library is named by its top-level module.
LIBRARY_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
_LIBRARY = re.compile(LIBRARY_PATTERN)
MAX_LIBRARIES = 16
ENVIRONMENT_FIELDS = ("python", "bumps", "numpy", "libraries")
# The summary of the fitted parameters is kept on the job record, which every list of jobs
# reads: bounded well above any real problem's count and labels.
MAX_PARAMETERS = 2000
MAX_PARAMETER_NAME = 200
PARAMETER_FIELDS = ("name", "value", "bounds")
_REENCODE = "Re-encode the problem with encode() (docs/transport.md)"


def _check_environment_fields(env: dict) -> None:
    unknown = sorted(str(k) for k in env if k not in ENVIRONMENT_FIELDS)
    if unknown:
        raise PayloadError(
            f"environment: unknown field {_shown(unknown[0])} "
            f"(an environment has {', '.join(ENVIRONMENT_FIELDS)})",
            "Re-encode it with encode(), with the same jupyter-bumps-remote in the kernel "
            "as on the server",
        )
    for field in ("python", "bumps", "numpy"):
        if field in env:
            _check_version(f"environment.{field}", env[field])
    libraries = env.get("libraries", {})
    if not isinstance(libraries, dict) or len(libraries) > MAX_LIBRARIES:
        raise PayloadError(
            f"environment.libraries: must be an object of at most {MAX_LIBRARIES} model "
            "libraries, each to its version",
            _REENCODE,
        )
    for name, version in libraries.items():
        if not _LIBRARY.fullmatch(name):
            raise PayloadError(
                f"environment.libraries: {_shown(name)} is not a module name (letters, digits "
                "and _, at most 64)",
                _REENCODE,
            )
        _check_version(f"environment.libraries.{name}", version)


def _check_version(field: str, value: object) -> None:
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise PayloadError(
            f"{field}: {_shown(value)} is not a version (letters, digits and . + ! _ -, "
            "starting with a letter or digit, at most 64)",
            _REENCODE,
        )


def _check_parameters(parameters: object) -> None:
    """The parameter summary, if there is one: [{name, value, bounds: [low, high]}, ...]."""
    if parameters is None:
        return
    if not isinstance(parameters, list) or len(parameters) > MAX_PARAMETERS:
        count = f" ({len(parameters)})" if isinstance(parameters, list) else ""
        raise PayloadError(
            f"parameters: must be a list of at most {MAX_PARAMETERS} fitted parameters{count}",
            "Fit fewer parameters at once (fix some, or fit the problem locally); a payload "
            "made by encode() lists the problem's fitted parameters",
        )
    for index, parameter in enumerate(parameters):
        field = f"parameters[{index}]"
        if not isinstance(parameter, dict) or set(parameter) != set(PARAMETER_FIELDS):
            raise PayloadError(
                f"{field}: must be an object with exactly {', '.join(PARAMETER_FIELDS)}",
                _REENCODE,
            )
        name = parameter["name"]
        if not isinstance(name, str) or len(name) > MAX_PARAMETER_NAME:
            raise PayloadError(
                f"{field}.name: must be a string of at most {MAX_PARAMETER_NAME} characters",
                "Give the parameter a shorter name (bumps' Parameter(name=...)), then encode "
                "the problem again",
            )
        bounds = parameter["bounds"]
        if not _is_number_or_null(parameter["value"]) or not (
            isinstance(bounds, list | tuple)
            and len(bounds) == 2
            and all(_is_number_or_null(b) for b in bounds)
        ):
            raise PayloadError(
                f"{field}: must have a number (or null) as value and [low, high] numbers "
                "(or null) as bounds",
                _REENCODE,
            )


def _is_number_or_null(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _shown(value: object, limit: int = 40) -> str:
    """A value from a client, short enough to quote in a message."""
    try:
        text = repr(value) if isinstance(value, str | int | float | None) else None
    except ValueError:  # an integer of more digits than Python converts
        text = None
    text = text or f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_environment(envelope: dict) -> None:
    """Refuse a payload pickled elsewhere before decoding it: it could crash the process."""
    theirs = envelope["environment"]
    why = versions.mismatch(theirs, _environment_here(theirs))
    if why is not None:
        raise PayloadError(*why)


def _environment_here(theirs: dict) -> dict:
    """This process's environment, as far as `versions.mismatch` reads it for a payload
    made in `theirs`.

    mismatch compares the model libraries the payload names, and only those: for a payload
    that names none (every plain bumps model), the libraries installed here change neither
    its answer nor its words, and looking them up (a `find_spec` and, for one not imported,
    its metadata read from disk) was ~0.6 ms of a tiny problem's ~1.9 ms decode in a fit
    process. The environment of a problem that uses no model library is that of this
    process without them (tests/unit/test_transport_environment.py)."""
    if versions.libraries_of(theirs):
        return versions.environment()
    return versions.environment(problem=())


def decode(raw: bytes | str | dict, *, verify: bool = True):
    """Rebuild the problem (worker side). Raises PayloadError naming the cause and the fix."""
    with bumps_compat.memoized_chisq_scale():  # (FitProblem() and chisq(): bumps_compat.py)
        return _decode(raw, verify)


def _decode(raw: bytes | str | dict, verify: bool):
    envelope = read_envelope(raw)
    check_environment(envelope)
    try:
        problem = encodings.unpack(envelope["encoding"], encodings.from_text(envelope["problem"]))
    except encodings.Corrupt as e:
        raise PayloadError(
            "the problem inside the payload is corrupt", "Re-encode the problem with encode()"
        ) from e
    except Exception as e:  # noqa: BLE001 - any failure here is the payload's, reported as such
        # bumps reports a missing module inside a warning or a RuntimeError's text; pickle
        # raises ModuleNotFoundError.
        missing = _MISSING_MODULE.search(str(e))
        if missing:
            package = missing[1].partition(".")[0]
            raise PayloadError(
                f"the problem needs the module {missing[1]!r}, which this worker cannot import",
                f"Install {package!r} where the workers run (same version as in the kernel)",
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
        checked = envelope.get("round_trip_checked", True) is not False
        if not checked:
            _verify_parameter_names(problem, envelope.get("parameters"))
        verify_preflight(problem, envelope.get("chisq"), checked=checked)
        if not checked:
            _verify_moved_chisq(problem, envelope.get("moved_chisq"))
    return problem


# what a difference means when the kernel did not check this member's round trip itself
_UNCHECKED = (
    "This member of a sweep was checked here, not in the kernel (a sweep checks the first "
    "problem of each kind there; docs/transport.md#a-sweep-checks-each-kind-once): it does "
    "not survive being encoded as its kind's first did. Submit it alone with submit(), "
    "which tries both encodings and says what differs"
)


def _verify_parameter_names(problem, parameters) -> None:
    """The fitted parameters' names, in order, as the kernel listed them in the envelope."""
    from . import sameness

    if not isinstance(parameters, list):
        return
    sent = [str(p.get("name")) for p in parameters if isinstance(p, dict)]
    here = [str(label) for label in problem.labels()]
    if here != sent:
        why = sameness.parameters_differ(sent, here)
        raise PayloadError(f"the problem rebuilt on the worker has {why}", _UNCHECKED)


def _verify_moved_chisq(problem, expected) -> None:
    """χ² a little away from the start point, as the kernel computed it for the envelope:
    what catches a copy that no longer moves together what moved together (a parameter used
    in two places that came back as two), which the start point does not show."""
    from . import sameness

    if not isinstance(expected, int | float):
        return  # no fitted parameter, or nan in the kernel (JSON has none): start χ² only
    with _quiet_bumps_logging():
        moved = sameness.chisq_moved(problem)
    if moved is None or not sameness.same_chisq(float(expected), moved, PREFLIGHT_RTOL):
        why = sameness.moved_chisq_differs(float(expected), math.nan if moved is None else moved)
        raise PayloadError(f"the problem rebuilt on the worker has {why}", _UNCHECKED)


def verify_preflight(problem, expected, *, checked: bool = True) -> float:
    """Recompute chisq at the start point and compare it with the kernel's own value.
    `checked`: the kernel checked the payload's round trip (else a difference is more
    likely the pickle's than the worker's packages')."""
    try:
        forget_cached_theory(problem)
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
            "Make sure the worker has the same versions of the model's packages and data"
            if checked
            else _UNCHECKED,
        )
    return chisq
