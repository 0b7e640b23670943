"""Job model: states, ids, and validation of what a user asks for (pure, no I/O).

The server validates here before anything is stored or queued; the worker relies on it.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from typing import TypeGuard

QUEUED, RUNNING = "queued", "running"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = frozenset((SUCCEEDED, FAILED, CANCELLED))
ACTIVE = frozenset((QUEUED, RUNNING))

JOB_ID_PATTERN = r"[0-9a-f]{32}"
_JOB_ID = re.compile(rf"^{JOB_ID_PATTERN}$")
MAX_NAME_LENGTH = 200
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_IDEMPOTENCY_KEY = 200
# printable ASCII, space included: the key becomes part of a Redis key (quoted there)
_IDEMPOTENCY_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")
MAX_SEED = 2**32 - 1  # numpy's legacy global seed range, which bumps' fitters draw from

# Options every fitter accepts besides its own settings.
COMMON_OPTIONS = {
    "parallel": "number of processes evaluating the population (de, dream, pt); 0 = all cores",
    "max_time": "wall-clock limit in seconds; the fit stops and keeps its best point",
}
POPULATION_FITTERS = frozenset(("de", "dream"))


class JobInputError(ValueError):
    """Bad input from the user; `field` names what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def new_job_id() -> str:
    return secrets.token_hex(16)


def is_job_id(value: str) -> bool:
    return isinstance(value, str) and bool(_JOB_ID.fullmatch(value))


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED)


@dataclass(frozen=True)
class FitterInfo:
    id: str
    name: str
    settings: tuple[tuple[str, object], ...]

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "settings": dict(self.settings)}


def fitters() -> dict[str, FitterInfo]:
    """Every fitter bumps registers, with its settings and defaults."""
    from bumps import fitters as bumps_fitters

    return {
        cls.id: FitterInfo(cls.id, cls.name, tuple((k, v) for k, v in cls.settings))
        for cls in bumps_fitters.FITTERS
        if cls.id in bumps_fitters.FIT_AVAILABLE_IDS
    }


def validate_fitter(fitter: object) -> FitterInfo:
    known = fitters()
    if not isinstance(fitter, str) or fitter not in known:
        raise JobInputError(
            "fitter", f"unknown fitter {fitter!r}; choose one of {', '.join(sorted(known))}"
        )
    return known[fitter]


def validate_options(fitter: str, options: object) -> dict:
    """Return the options with their types checked against the fitter's own settings.

    Only options the user gave are kept: defaults stay bumps' own, so that the local
    run with the same options and seed is the same fit.
    """
    info = validate_fitter(fitter)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise JobInputError("options", "must be an object of option name to value")
    defaults = dict(info.settings)
    allowed = sorted(defaults) + sorted(COMMON_OPTIONS)
    clean = {}
    for name, value in options.items():
        if name in COMMON_OPTIONS:
            clean[name] = _check_common(name, value)
        elif name in defaults:
            clean[name] = _check_setting(fitter, name, value, defaults[name])
        else:
            raise JobInputError(
                f"options.{name}",
                f"{fitter} has no option {name!r}; allowed: {', '.join(allowed)}",
            )
    _check_combination(fitter, clean, defaults)
    return clean


def _check_common(name: str, value: object) -> int | float:
    field = f"options.{name}"
    if name == "parallel":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1024:
            raise JobInputError(field, "must be an integer from 0 (all cores) to 1024")
        return value
    if not _is_finite_number(value):
        raise JobInputError(field, "must be a number of seconds")
    if value <= 0:
        raise JobInputError(field, "must be a positive number of seconds")
    return float(value)


# Ranges bumps itself does not check but that make a fit meaningless or crash it.
_AT_LEAST_ONE = frozenset(("thin", "starts", "nT"))
_POSITIVE = frozenset(("radius", "Tmin", "Tmax"))
_NON_NEGATIVE = frozenset(("xtol", "ftol", "alpha", "jump"))
_UNIT_INTERVAL = frozenset(("CR",))


def _check_setting(fitter: str, name: str, value: object, default: object) -> object:
    """Check one fitter setting by the parser bumps' own command line uses for it."""
    from .bumps_compat import option_parsers

    bumps_options = option_parsers()
    field = f"options.{name}"
    parser = bumps_options.FIT_FIELDS.get(name, (None, None))[1]
    choices = getattr(parser, "choices", None)
    if choices:
        if value not in choices:
            raise JobInputError(field, f"must be one of {', '.join(choices)}; got {value!r}")
        return value
    if parser is bumps_options.yesno or isinstance(default, bool):
        if not isinstance(value, bool):
            raise JobInputError(field, f"must be true or false (default {default})")
        return value
    if not _is_finite_number(value):
        raise JobInputError(field, f"must be a finite number (default {default})")
    if parser is bumps_options.parse_int:
        if value != int(value) or value < 0:
            raise JobInputError(field, f"must be a whole number, 0 or more (default {default})")
        value = int(value)
    if name in _AT_LEAST_ONE and value < 1:
        raise JobInputError(field, f"must be 1 or more (default {default})")
    if name in _POSITIVE and value <= 0:
        raise JobInputError(field, f"must be above 0 (default {default})")
    if name in _NON_NEGATIVE and value < 0:
        raise JobInputError(field, f"must be 0 or more (default {default})")
    if name in _UNIT_INTERVAL and not 0 <= value <= 1:
        raise JobInputError(field, f"must be between 0 and 1 (default {default})")
    return value


def _is_finite_number(value: object) -> TypeGuard[int | float]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float (JSON allows 10**400)
        return False


def _check_combination(fitter: str, options: dict, defaults: dict) -> None:
    """Settings that are fine alone but crash bumps together."""
    merged = {**defaults, **options}
    if "pop" in options and options["pop"] == 0:
        raise JobInputError("options.pop", "must not be 0 (it sets the population size)")
    if fitter == "de" and merged.get("pop", 1) < 0:
        raise JobInputError("options.pop", "de needs a positive pop (a multiple of parameters)")
    if fitter == "dream" and merged.get("steps") == 0 and merged.get("samples", 1) < 1:
        raise JobInputError("options.samples", "must be 1 or more when steps is 0")
    if fitter == "pt" and merged.get("Tmin", 0) >= merged.get("Tmax", 1):
        raise JobInputError("options.Tmin", "must be below Tmax")


def validate_seed(seed: object) -> int:
    if seed is None:
        return new_seed()
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise JobInputError("seed", f"must be an integer from 0 to {MAX_SEED}")
    return seed


def validate_name(name: object, default: str) -> str:
    if name is None or name == "":
        return default
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
        raise JobInputError("name", f"must be a string of at most {MAX_NAME_LENGTH} characters")
    return name


def validate_tags(tags: object) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise JobInputError("tags", f"must be a list of at most {MAX_TAGS} strings")
    for tag in tags:
        if not isinstance(tag, str) or not 0 < len(tag) <= MAX_TAG_LENGTH:
            raise JobInputError("tags", f"each tag must be 1 to {MAX_TAG_LENGTH} characters")
    return list(dict.fromkeys(tags))


def validate_idempotency_key(key: str | None) -> str | None:
    """The `Idempotency-Key` header of a submit: None (or empty) for none."""
    if not key:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        why = (
            f"it has {len(key)}"
            if len(key) > MAX_IDEMPOTENCY_KEY
            else "it has a character outside printable ASCII"
        )
        raise JobInputError(
            "Idempotency-Key",
            f"must be at most {MAX_IDEMPOTENCY_KEY} printable ASCII characters ({why}); "
            "a UUID makes a good key",
        )
    return key


def max_steps(fitter: str, options: dict, problem=None) -> int:
    """The denominator of a progress bar, as bumps itself computes it."""
    from bumps import fitters as bumps_fitters

    cls = next(c for c in bumps_fitters.FITTERS if c.id == fitter)
    settings = {k: v for k, v in options.items() if k not in COMMON_OPTIONS}
    try:
        return int(cls.max_steps(problem, settings))
    except Exception:  # noqa: BLE001 - some fitters need the problem; a bar without a total is fine
        return 0
