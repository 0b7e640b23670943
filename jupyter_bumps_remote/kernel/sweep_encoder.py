"""A sweep's problems encoded with the round trip of each kind checked in the kernel once.

`transport.encode` checks that a problem decodes to the same problem (its parameters, its χ²
at the start point and a little away from it) before sending it: four evaluations of the
model, most of a medium problem's encode, and for a model that takes a second to evaluate,
four seconds of the kernel's time per problem. A sweep's problems are almost always one
model built again with other data or start values: its first problem of each kind is
checked there, which also chooses its encoding; the others of its kind travel in that
encoding with what the check compares (the parameters' names, the χ² at the start point and
away from it: two evaluations), and the worker's preflight compares its copy with them
(transport.decode), in parallel with the rest of the sweep. What the kind is only decides
which problem the kernel checks and how it travels; every problem is compared
(docs/transport.md#a-sweep-checks-each-kind-once).
"""

from __future__ import annotations

import functools
from collections.abc import Hashable

from ..shared import transport


class SweepEncoder:
    """Encodes a sweep's problems in turn; `checked` counts the round trips checked."""

    def __init__(self, order: tuple[str, ...] | None = None):
        self.order = order
        self.checked = 0
        self._encoding_of: dict[Hashable, str] = {}  # kind -> the encoding its check chose

    def encode(self, problem) -> dict:
        problem = transport.as_fit_problem(problem)
        kind = kind_of(problem)
        encoding = self._encoding_of.get(kind) if kind is not None else None
        if encoding is not None:
            payload = transport.encode_unchecked(problem, encoding)
            if payload is not None:
                return payload
            # it does not pack as its kind's first did: checked as a first, below
        payload = transport.encode(problem, self.order)
        self.checked += 1
        if kind is not None:
            # the first's: one odd member (a lock the pickle refuses) leaves its kind as it was
            self._encoding_of.setdefault(kind, payload["encoding"])
        return payload


def kind_of(problem) -> Hashable | None:
    """What problems of one kind share: the problem's class, each model's class and model
    function (a `Curve`'s), and the fitted parameters' names in order. None (check it) for a
    problem that does not say. (Reading `problem.models` switches a multi-model problem's
    free variables and back: nothing of the problem changes before it is packed.)"""
    try:
        models = tuple(
            (_name(type(model)), _name(getattr(model, "fn", None))) for model in problem.models
        )
        return (_name(type(problem)), models, tuple(str(label) for label in problem.labels()))
    except Exception:  # noqa: BLE001 - a problem we cannot describe is always checked
        return None


def _name(thing) -> str | None:
    """A class's or function's full name; a callable object's class's."""
    if thing is None:
        return None
    if isinstance(thing, functools.partial):  # every partial is named functools.partial
        return f"partial of {_name(thing.func)}"
    named = thing if hasattr(thing, "__qualname__") else type(thing)
    return f"{named.__module__}.{named.__qualname__}"
