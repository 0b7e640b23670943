"""The kernel's check that a payload decodes to the problem it was made from, and the
choice of encoding it drives (bumps.serialize first, else a pickle, else a clear error)."""

from __future__ import annotations

import importlib
import sys
import threading
import uuid

import numpy as np
import pytest
from bumps.names import Curve, FitProblem, Parameter

from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.shared import sameness, transport
from jupyter_bumps_remote.shared.transport import PayloadError
from tests.support.problems import gaussian_problem

X = np.linspace(0, 1, 11)
DY = np.full_like(X, 0.1)


class Shifted:
    """A callable model object bumps.serialize has no schema for: it pickles it on its own,
    so the parameter it holds comes back as a copy (docs/transport.md)."""

    def __init__(self, shift):
        self.shift = shift

    def __call__(self, x, a):
        return a * x + self.shift.value


def shared_inside_a_callable() -> FitProblem:
    shift = Parameter(0.5, name="shift").range(0, 2)
    m1 = Curve(lambda x, s: x + s, X, X + 1, DY, s=shift)
    m2 = Curve(Shifted(shift), X, 2 * X + 1, DY, a=1.0)
    m2.a.range(0, 5)
    return FitProblem([m1, m2])


class Line:
    """A model of the user's own that bumps.serialize cannot encode (as sasmodels')."""

    def __init__(self, x, y, dy):
        self.x, self.y, self.dy = x, y, dy
        self.m = Parameter(1.0, name="m").range(0, 5)
        self.b = Parameter(0.0, name="b").range(-2, 2)

    def parameters(self):
        return {"m": self.m, "b": self.b}

    def numpoints(self):
        return len(self.x)

    def residuals(self):
        return (self.m.value * self.x + self.b.value - self.y) / self.dy

    def nllf(self):
        return 0.5 * np.sum(self.residuals() ** 2)

    def update(self):
        pass


class Forgetful:
    """A model that pickles into a different model: no encoding can send it unchanged."""

    def __init__(self):
        self.scale = 2.0

    def __call__(self, x, a):
        return a * x * self.scale

    def __getstate__(self):
        return {"scale": 1.0}


class Locked:
    def __init__(self):
        self.lock = threading.Lock()

    def __call__(self, x, a):
        return a * x


def curve_of(fn) -> Curve:
    curve = Curve(fn, X, 2 * X, DY, a=1.0)
    curve.a.range(0, 3)
    return curve


def test_a_problem_serialize_handles_stays_on_bumps_serialize():
    problem = gaussian_problem()
    envelope = transport.encode(problem)
    assert envelope["encoding"] == transport.ENCODING == "bumps-serialize+zlib+base64"
    assert transport.decode(envelope).chisq() == pytest.approx(problem.chisq(), rel=1e-12)


def test_serialize_loses_a_shared_parameter_inside_a_callable():
    # The start point agrees; one step away it does not: bumps.serialize's copy of `shift`
    # inside the pickled Shifted no longer follows the fitted one.
    problem = shared_inside_a_callable()
    data = transport.encodings.pack(problem, transport.ENCODING)
    why = transport.round_trip_difference(problem, transport.ENCODING, data)
    assert why is not None and "away from the start point" in why, why


def test_a_problem_serialize_changes_travels_pickled():
    problem = shared_inside_a_callable()
    envelope = transport.encode(problem)
    assert envelope["encoding"] == transport.PICKLE_ENCODING == "cloudpickle+zlib+base64"
    decoded = transport.decode(envelope)
    for point in ([1.0, 2.0], [0.2, 4.0]):
        problem.setp(point)
        decoded.setp(point)
        assert decoded.chisq() == pytest.approx(problem.chisq(), rel=1e-12)


def test_a_model_serialize_cannot_encode_travels_pickled():
    problem = FitProblem(Line(X, 2 * X + 1, DY))
    envelope = transport.encode(problem)
    assert envelope["encoding"] == transport.PICKLE_ENCODING
    assert [p["name"] for p in envelope["parameters"]] == ["b", "m"]
    assert transport.decode(envelope).chisq() == pytest.approx(problem.chisq(), rel=1e-12)


def test_no_encoding_sends_it_unchanged():
    with pytest.raises(PayloadError) as info:
        transport.encode(curve_of(Forgetful()))
    error = info.value
    assert error.cause.startswith("the problem cannot be sent unchanged")
    assert "bumps.serialize: the copy has chisq" in error.cause
    assert "pickle: the copy has chisq" in error.cause
    assert "pickle.loads(cloudpickle.dumps(problem))" in error.fix
    assert "docs/transport.md" in error.fix


def test_an_unpicklable_model_names_the_cause():
    with pytest.raises(PayloadError) as info:
        transport.encode(curve_of(Locked()))
    assert "cannot encode it" in info.value.cause
    assert "_thread.lock" in info.value.cause


def test_the_check_leaves_the_problem_at_its_start_point():
    problem = shared_inside_a_callable()
    start, chisq = problem.getp().copy(), problem.chisq()
    transport.encode(problem)
    np.testing.assert_array_equal(problem.getp(), start)
    assert problem.chisq() == chisq


def test_the_job_records_the_encoding():
    for problem, encoding in (
        (gaussian_problem(), transport.ENCODING),
        (FitProblem(Line(X, 2 * X + 1, DY)), transport.PICKLE_ENCODING),
    ):
        record, _ = dispatch.new_job(
            "someone",
            transport.encode(problem),
            "lm",
            queue_prefix="bumps-remote.",
            max_attempts=3,
        )
        assert record["encoding"] == encoding


# --- sameness: what differs, in words ---------------------------------------------------------


def two_lines(names=("a", "b")) -> FitProblem:
    curves = []
    for name in names:
        curve = Curve(lambda x, a: a * x, X, 2 * X, DY, name=name, a=1.0)
        curve.a.range(0, 3)
        curves.append(curve)
    return FitProblem(curves)


def test_more_parameters_name_the_duplicates():
    original = gaussian_problem()
    copy = FitProblem([*gaussian_problem().models, *gaussian_problem().models])
    why = sameness.difference(original, copy, transport.PREFLIGHT_RTOL)
    assert why.startswith("6 fitted parameters instead of 3")
    assert "extra: A, mu, sigma" in why


def test_other_parameters_are_named():
    why = sameness.difference(two_lines(("a", "b")), two_lines(("a", "c")), 1e-9)
    assert why == "2 fitted parameters instead of 2; extra: ca; missing: ba"


def test_same_problem_has_no_difference():
    assert sameness.difference(gaussian_problem(), gaussian_problem(), 1e-9) is None


def test_nan_at_the_start_on_both_sides_is_the_same():
    nan = gaussian_problem(SCALE=float("nan"))
    assert sameness.difference(nan, gaussian_problem(SCALE=float("nan")), 1e-9) is None
    why = sameness.difference(gaussian_problem(), nan, 1e-9)
    assert "nan" in why and "start point" in why


@pytest.mark.parametrize(
    ("start", "low", "high", "expected"),
    [
        (1.0, 0.0, 3.0, 1.15),  # 5 % of the range, up
        (3.0, 0.0, 3.0, 2.85),  # at the top: down
        (2.0, -np.inf, np.inf, 2.1),  # no range: 5 % of the value
        (0.0, -np.inf, np.inf, 0.05),  # ... or of 1
    ],
)
def test_moved_point_stays_inside_the_bounds(start, low, high, expected):
    moved = sameness.moved_point(np.array([start]), ([low], [high]))
    assert moved == pytest.approx([expected])


LINE_MODULE = """
import numpy as np
from bumps.names import Parameter


class Line:
    def __init__(self, x, y, dy):
        self.x, self.y, self.dy = x, y, dy
        self.m = Parameter(1.0, name="m").range(0, 5)

    def parameters(self):
        return {"m": self.m}

    def numpoints(self):
        return len(self.x)

    def residuals(self):
        return (self.m.value * self.x - self.y) / self.dy

    def nllf(self):
        return 0.5 * np.sum(self.residuals() ** 2)

    def update(self):
        pass
"""


def test_a_pickled_problem_names_an_installed_module_the_worker_lacks(tmp_path, monkeypatch):
    name = f"jbr_installed_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / f"{name}.py").write_text(LINE_MODULE)
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    module = importlib.import_module(name)
    envelope = transport.encode(FitProblem(module.Line(X, 2 * X, DY)))
    assert envelope["encoding"] == transport.PICKLE_ENCODING

    sys.path.remove(str(folder))  # as on a worker without it
    sys.modules.pop(name)
    importlib.invalidate_caches()
    with pytest.raises(PayloadError) as info:
        transport.decode(envelope)
    assert f"the problem needs the module {name!r}" in info.value.cause
    assert f"Install {name!r} where the workers run" in info.value.fix
