"""A bumps problem to a payload and back, and every way a payload can be refused."""

from __future__ import annotations

import base64
import importlib
import json
import math
import pickletools
import shutil
import subprocess
import sys
import textwrap
import uuid
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from bumps.names import Curve, FitProblem

from jupyter_bumps_remote.shared import transport, versions
from jupyter_bumps_remote.shared.transport import PayloadError
from tests.support.problems import gaussian_problem

IMPORTABLE = Path(__file__).resolve().parents[1] / "support" / "importable"

# Markers cloudpickle writes when it ships a function's code by value.
BY_VALUE_MARKERS = ("_make_function", "_builtin_type", "CodeType")


# --- helpers --------------------------------------------------------------------------------


def inner_document(envelope: dict) -> dict:
    return json.loads(zlib.decompress(base64.b64decode(envelope["problem"])))


def pickled_functions(envelope: dict) -> list[bytes]:
    """The cloudpickle bytes of every model function inside the payload."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("__class__") == "Callable":
                found.append(base64.b64decode(node["pickle"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(inner_document(envelope))
    return found


def pickle_strings(data: bytes) -> list[str]:
    return [arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)]


def assert_same_problem(original, decoded, points=()) -> None:
    """Same parameters, same chisq at the start point and at every other point given."""
    assert isinstance(decoded, FitProblem)
    assert decoded.labels() == original.labels()
    np.testing.assert_array_equal(decoded.getp(), original.getp())
    low, high = original.bounds()
    np.testing.assert_array_equal(decoded.bounds()[0], low)
    np.testing.assert_array_equal(decoded.bounds()[1], high)
    assert math.isfinite(original.chisq())
    assert decoded.chisq() == pytest.approx(original.chisq(), rel=1e-12)
    for point in points:
        original.setp(point)
        decoded.setp(point)
        assert decoded.chisq() == pytest.approx(original.chisq(), rel=1e-12)
        assert decoded.nllf() == pytest.approx(original.nllf(), rel=1e-12)


def round_trip(problem, points=()):
    """encode → JSON text → decode, as the payload travels; returns (envelope, decoded)."""
    envelope = transport.encode(problem)
    text = json.dumps(envelope, allow_nan=False)  # strict JSON: no NaN/inf anywhere
    decoded = transport.decode(text)
    assert_same_problem(transport.as_fit_problem(problem), decoded, points)
    return envelope, decoded


def line_curve(fn, n=20, **pars):
    x = np.linspace(0, 1, n)
    return Curve(fn, x, 2 * x + 1, np.full(n, 0.1), **(pars or {"m": 1.5, "b": 0.5}))


@pytest.fixture
def temp_module(tmp_path, monkeypatch):
    """Write an importable module (unique name) on sys.path and import it."""
    names = []

    def make(source: str):
        name = f"jbr_tmp_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
        names.append(name)
        return importlib.import_module(name)

    yield make
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture
def copy_package(tmp_path, monkeypatch):
    """Import a copy of a package under a fresh name from a folder of its own; `installed`:
    with a `.dist-info` beside it, as pip leaves one (it then travels by reference)."""

    def make(package: Path, *, installed: bool):
        name = f"jbr_{'installed' if installed else 'plain'}_{uuid.uuid4().hex[:10]}"
        folder = tmp_path / ("site-packages-copy" if installed else "notebook")
        shutil.copytree(package, folder / name)
        if installed:
            info = folder / f"{name}-1.0.dist-info"
            info.mkdir(parents=True)
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
            (info / "top_level.txt").write_text(name + "\n")
        monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()
        module = importlib.import_module(name)
        monkeypatch.setitem(sys.modules, name, module)
        return module, folder

    return make


def forget_module(module, path: Path) -> None:
    """Make `module` unimportable here, as on a worker that lacks it."""
    while str(path) in sys.path:
        sys.path.remove(str(path))
    sys.modules.pop(module.__name__, None)
    importlib.invalidate_caches()


# --- round trips ----------------------------------------------------------------------------


def test_notebook_function_reading_a_module_global_travels_by_value():
    # SCALE is a global of a module no worker can import: its value must travel too.
    problem = gaussian_problem(SCALE=1.7)
    envelope, decoded = round_trip(problem, points=[[1.1, 0.2, 1.3], [2.5, -1.0, 0.4]])
    [pickled] = pickled_functions(envelope)
    strings = pickle_strings(pickled)
    assert "_make_function" in strings  # code by value, not a module reference
    assert "SCALE" in strings
    assert "user_notebook_code" not in sys.modules
    # The global's value, not just its name: with SCALE 1.0 the chisq would differ.
    assert decoded.chisq() != pytest.approx(gaussian_problem(SCALE=1.0).chisq(), rel=1e-6)


def test_lambda_model():
    curve = line_curve(lambda x, m, b: m * x**2 + b)
    curve.m.range(0, 5)
    curve.b.range(-2, 2)
    round_trip(FitProblem(curve), points=[[2.0, 1.0], [0.3, -1.5]])


def _gauss(x, A, mu, sigma):
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)


def test_several_models_in_one_problem():
    x = np.linspace(-3, 3, 40)
    m1 = Curve(_gauss, x, _gauss(x, 1, 0.2, 1), np.full_like(x, 0.05), A=0.8, mu=0.1, sigma=1)
    m2 = Curve(lambda x, a, b: a * x + b, x, 2 * x + 0.4, np.full_like(x, 0.1), a=1.0, b=0.0)
    [m3] = gaussian_problem(SCALE=0.5).models
    m1.A.range(0, 3)
    m2.a.range(0, 5)
    m3.mu.range(-2, 2)
    problem = FitProblem([m1, m2, m3])
    _, decoded = round_trip(problem, points=[[1.2, 2.1, 0.4]])
    decoded_models = list(decoded.models)
    assert len(decoded_models) == 3
    for before, after in zip(problem.models, decoded_models, strict=True):
        assert after.nllf() == pytest.approx(before.nllf(), rel=1e-12)


def test_parameter_tied_by_expression_and_a_constraint():
    x = np.linspace(-3, 3, 30)
    m1 = Curve(
        _gauss, x, _gauss(x, 1, 0.2, 1), np.full_like(x, 0.05), name="M1", A=0.8, mu=0.1, sigma=1
    )
    m2 = Curve(
        lambda x, a, b: a * x + b, x, 2 * x + 0.4, np.full_like(x, 0.1), name="M2", a=1.0, b=0.0
    )
    m1.A.range(0, 3)
    m1.mu.range(-1, 1)
    m1.sigma.range(0.1, 5)
    m2.a.range(0, 5)
    m2.b = m1.mu * 2
    problem = FitProblem([m1, m2], constraints=[m1.mu < m2.a])
    assert problem.labels() == ["M1A", "M1mu", "M1sigma", "M2a"]  # M2b is not free
    violating = [1.0, 0.9, 1.0, 0.5]  # M1mu 0.9 > M2a 0.5
    _, decoded = round_trip(problem, points=[[1.0, 0.3, 1.0, 2.0], violating])

    tied = list(decoded.models)[1].b
    decoded.setp([1.0, 0.3, 1.0, 2.0])
    assert tied.value == pytest.approx(0.6)
    decoded.setp(violating)
    assert tied.value == pytest.approx(1.8)
    assert decoded.constraints_nllf()[1] == ["(M1mu < M2a)"]
    assert decoded.nllf() > 1e6  # the constraint's penalty came along


def test_ten_thousand_points_payload_is_compact():
    problem = gaussian_problem(n=10_000)
    envelope, _ = round_trip(problem, points=[[1.0, 0.3, 1.2]])
    size = len(json.dumps(envelope))
    assert size < 400_000, f"payload is {size} bytes"


def _refmodels_curve(refmodels, attribute):
    if attribute == "line":
        curve = line_curve(refmodels.line, m=1.5, b=0.5)
        curve.m.range(0, 5)
        return curve, [[2.0]]
    x = np.linspace(0, 2, 25)
    y = 3 * np.exp(-1.5 * x)
    curve = Curve(refmodels.Exponential.evaluate, x, y, np.full_like(x, 0.05), amplitude=2, rate=1)
    curve.amplitude.range(0, 10)
    curve.rate.range(0, 5)
    return curve, [[3.0, 1.5]]


@pytest.mark.parametrize(
    ("attribute", "qualname"), [("line", "line"), ("Exponential", "Exponential.evaluate")]
)
def test_installed_package_model_travels_by_reference(copy_package, attribute, qualname):
    refmodels, _ = copy_package(IMPORTABLE / "refmodels", installed=True)
    curve, points = _refmodels_curve(refmodels, attribute)
    envelope, _ = round_trip(FitProblem(curve), points=points)
    [pickled] = pickled_functions(envelope)
    strings = pickle_strings(pickled)
    assert refmodels.__name__ in strings
    assert qualname in strings
    assert not set(BY_VALUE_MARKERS) & set(strings), strings
    assert len(pickled) < 200, len(pickled)


@pytest.mark.parametrize("attribute", ["line", "Exponential"])
def test_package_on_a_path_the_user_added_travels_by_value(copy_package, attribute):
    # Not installed: a worker has no reason to have it (docs/transport.md)
    refmodels, folder = copy_package(IMPORTABLE / "refmodels", installed=False)
    curve, points = _refmodels_curve(refmodels, attribute)
    envelope, _ = round_trip(FitProblem(curve), points=points)
    [pickled] = pickled_functions(envelope)
    assert set(BY_VALUE_MARKERS) <= set(pickle_strings(pickled))
    forget_module(refmodels, folder)
    assert transport.decode(envelope).chisq() == pytest.approx(envelope["chisq"], rel=1e-12)


MAIN_SCRIPT = """
import json

import numpy as np
from bumps.names import Curve, FitProblem

from jupyter_bumps_remote.shared import transport

OFFSET = 0.25  # a global of __main__ the model reads


def shifted_line(x, m, b):
    return m * x + b + OFFSET


x = np.linspace(0, 1, 40)
curve = Curve(shifted_line, x, 2 * x + 1, np.full_like(x, 0.1), m=1.5, b=0.5)
curve.m.range(0, 5)
curve.b.range(-1, 3)
problem = FitProblem(curve)
payload = transport.encode(problem)
start = problem.chisq()
problem.setp([2.2, 0.1])
print(json.dumps({"chisq": start, "other": problem.chisq(), "payload": payload}))
"""


def test_function_defined_in_main_of_another_process(tmp_path):
    script = tmp_path / "make_payload.py"
    script.write_text(MAIN_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    [pickled] = pickled_functions(printed["payload"])
    assert "__main__" in pickle_strings(pickled)

    decoded = transport.decode(printed["payload"])
    assert decoded.chisq() == pytest.approx(printed["chisq"], rel=1e-12)
    decoded.setp([2.2, 0.1])
    assert decoded.chisq() == pytest.approx(printed["other"], rel=1e-12)


def test_decode_accepts_bytes_str_and_dict():
    problem = gaussian_problem()
    envelope = transport.encode(problem)
    for raw in (envelope, json.dumps(envelope), json.dumps(envelope).encode()):
        assert transport.decode(raw).chisq() == pytest.approx(problem.chisq(), rel=1e-12)


# --- the envelope ---------------------------------------------------------------------------


def test_envelope_is_readable_without_decoding():
    problem = gaussian_problem()
    envelope = transport.encode(problem)
    assert envelope["format"] == transport.FORMAT
    assert envelope["encoding"] == transport.ENCODING == "bumps-serialize+zlib+base64"
    assert envelope["environment"] == versions.environment(problem)
    assert envelope["chisq"] == problem.chisq()
    assert envelope["parameters"] == [
        {"name": "A", "value": 0.8, "bounds": [0.0, 3.0]},
        {"name": "mu", "value": 0.0, "bounds": [-2.0, 2.0]},
        {"name": "sigma", "value": 1.0, "bounds": [0.1, 5.0]},
    ]
    assert transport.read_envelope(json.dumps(envelope)) == envelope


def test_infinite_bounds_are_null_in_the_envelope():
    curve = line_curve(lambda x, m, b: m * x + b)
    curve.m.range(0, np.inf)
    curve.b.range(-np.inf, np.inf)
    envelope = transport.encode(curve)
    bounds = {p["name"]: p["bounds"] for p in envelope["parameters"]}
    assert bounds == {"m": [0.0, None], "b": [None, None]}
    json.dumps(envelope, allow_nan=False)


def test_environment_key_and_queue_name():
    # the key's format is versions.py's; here: the queue is named after it, and it follows
    # the Python minor version
    env = {"python": "3.11.7", "bumps": "1.0.5", "numpy": "2.1.0", "libraries": {}}
    key = versions.environment_key(env)
    assert versions.queue_name("bumps-remote.", env) == "bumps-remote." + key
    assert key.startswith("py3.11-")
    assert versions.environment_key({**env, "python": "3.12.1"}).startswith("py3.12-")


# --- as_fit_problem / bare models -----------------------------------------------------------


def test_as_fit_problem_passes_a_fit_problem_through():
    problem = gaussian_problem()
    assert transport.as_fit_problem(problem) is problem


def test_as_fit_problem_wraps_a_bare_model():
    curve = line_curve(lambda x, m, b: m * x + b)
    problem = transport.as_fit_problem(curve)
    assert isinstance(problem, FitProblem)
    assert list(problem.models) == [curve]


class _NllfOnly:
    def nllf(self):
        return 0.0


@pytest.mark.parametrize("bad", [42, "problem", {"models": []}, None, _NllfOnly()])
def test_as_fit_problem_rejects_other_objects(bad):
    with pytest.raises(TypeError) as info:
        transport.as_fit_problem(bad)
    message = str(info.value)
    assert type(bad).__name__ in message
    assert "FitProblem(model)" in message
    with pytest.raises(TypeError):
        transport.encode(bad)


def test_encode_a_bare_curve():
    curve = line_curve(lambda x, m, b: m * x + b)
    curve.m.range(0, 5)
    envelope = transport.encode(curve)
    assert [p["name"] for p in envelope["parameters"]] == ["m"]
    decoded = transport.decode(envelope)
    assert isinstance(decoded, FitProblem)
    assert decoded.chisq() == pytest.approx(FitProblem(curve).chisq(), rel=1e-12)


# --- refused payloads -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def envelope():
    return transport.encode(gaussian_problem())


def edited(envelope: dict, **changes) -> dict:
    copy = json.loads(json.dumps(envelope))
    copy.update(changes)
    return copy


def refused(raw, *fragments: str) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        transport.decode(raw)
    error = info.value
    assert error.cause and error.fix
    assert str(error) == f"{error.cause}. {error.fix}"
    for fragment in fragments:
        assert fragment in str(error), f"{fragment!r} not in {str(error)!r}"
    return error


@pytest.mark.parametrize("raw", ["not json{", "", b"\xff\xfe\x00garbage", b"{'single': 1}"])
def test_not_json(raw):
    error = refused(raw)
    assert "not JSON" in error.cause
    assert "encode()" in error.fix


@pytest.mark.parametrize(
    "raw",
    [
        "[1, 2]",
        '"a string"',
        "{}",
        json.dumps({"format": "jupyter-bumps-remote/0", "problem": "x"}),
        json.dumps({"format": "something else"}),
    ],
)
def test_wrong_format(raw):
    error = refused(raw)
    assert transport.FORMAT in error.cause and "format" in error.cause
    assert "encode()" in error.fix


def test_wrong_format_of_an_edited_envelope(envelope):
    error = refused(edited(envelope, format="bumps-draft-03"))
    assert "format" in error.cause


@pytest.mark.parametrize(
    "environment", [None, "3.11", {"python": "3.11.7"}, {"python": 3.11, "bumps": "1.0.5"}]
)
def test_missing_environment(envelope, environment):
    error = refused(edited(envelope, environment=environment))
    assert "environment" in error.cause


@pytest.mark.parametrize(("key", "value"), [("problem", None), ("encoding", "pickle")])
def test_no_problem_inside(envelope, key, value):
    error = refused(edited(envelope, **{key: value}))
    assert "no problem" in error.cause


def test_unknown_encoding_names_the_ones_read(envelope):
    error = refused(edited(envelope, encoding="msgpack"))
    assert "'msgpack'" in error.cause
    for encoding in transport.ENCODINGS:
        assert encoding in error.cause
    assert "same jupyter-bumps-remote" in error.fix


def _other_minor(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}.0"


def test_python_minor_mismatch(envelope):
    theirs = "3.10.0" if sys.version_info[:2] != (3, 10) else "3.12.0"
    env = {**envelope["environment"], "python": theirs}
    error = refused(edited(envelope, environment=env))
    ours = versions.environment()["python"]
    assert f"Python {theirs}" in error.cause and f"Python {ours}" in error.cause
    assert f"Run a worker with Python {theirs[:4]}" in error.fix
    assert f"Python {ours.rsplit('.', 1)[0]}" in error.fix


def test_version_mismatch_refused_before_the_problem_is_touched(envelope):
    # The pickled code could crash this process: the versions decide first.
    env = {**envelope["environment"], "python": "2.7.18"}
    error = refused(edited(envelope, environment=env, problem="!!! corrupt !!!"))
    assert "Python 2.7.18" in error.cause


def test_python_patch_difference_is_fine(envelope):
    ours = versions.environment()["python"]
    env = {**envelope["environment"], "python": ours.rsplit(".", 1)[0] + ".0"}
    assert transport.decode(edited(envelope, environment=env)).chisq() == envelope["chisq"]


def test_bumps_minor_mismatch(envelope):
    ours = versions.environment()["bumps"]
    theirs = _other_minor(ours)
    env = {**envelope["environment"], "bumps": theirs}
    error = refused(edited(envelope, environment=env))
    assert f"bumps {theirs}" in error.cause and f"bumps {ours}" in error.cause
    assert f"Install bumps {theirs} on the worker" in error.fix


def test_bumps_patch_difference_is_refused(envelope):
    # a patch release may change a fitter's steps (docs/compatibility.md)
    ours = versions.environment()["bumps"]
    theirs = ours.rsplit(".", 1)[0] + ".999"
    env = {**envelope["environment"], "bumps": theirs}
    error = refused(edited(envelope, environment=env))
    assert f"bumps {theirs}" in error.cause and f"bumps {ours}" in error.cause


@pytest.mark.parametrize(
    "problem",
    [
        "!!!not base64!!!",
        base64.b64encode(b"not zlib at all").decode(),
        base64.b64encode(zlib.compress(b"{not json")).decode(),
        "",
    ],
    ids=["base64", "zlib", "json", "empty"],
)
def test_corrupt_problem(envelope, problem):
    error = refused(edited(envelope, problem=problem))
    assert "corrupt" in error.cause
    assert "encode()" in error.fix


def test_truncated_problem(envelope):
    error = refused(edited(envelope, problem=envelope["problem"][: len(envelope["problem"]) // 2]))
    assert "corrupt" in error.cause


def test_missing_installed_package_is_named(copy_package):
    module, folder = copy_package(IMPORTABLE / "refmodels", installed=True)
    curve = line_curve(module.line)
    envelope = transport.encode(curve)
    assert module.__name__ in pickle_strings(pickled_functions(envelope)[0])  # by reference
    forget_module(module, folder)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(module.__name__)

    error = refused(envelope)
    assert repr(module.__name__) in error.cause
    assert "cannot import" in error.cause
    assert repr(module.__name__) in error.fix and "Install" in error.fix


def test_plain_module_beside_the_notebook_travels_by_value(temp_module, tmp_path):
    module = temp_module(
        """
        import numpy as np

        OFFSET = 0.5


        def line(x, m, b):
            return m * x + b + OFFSET + np.zeros_like(x)
        """
    )
    curve = line_curve(module.line)
    envelope = transport.encode(curve)
    assert set(BY_VALUE_MARKERS) <= set(pickle_strings(pickled_functions(envelope)[0]))
    forget_module(module, tmp_path)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(module.__name__)
    decoded = transport.decode(envelope)
    assert decoded.chisq() == pytest.approx(envelope["chisq"], rel=1e-12)


def test_model_module_that_warns_on_import_still_decodes(temp_module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = temp_module(
            """
            import warnings

            warnings.warn("this API is old", DeprecationWarning)


            def line(x, m, b):
                return m * x + b
            """
        )
    curve = line_curve(module.line)
    envelope = transport.encode(curve)
    sys.modules.pop(module.__name__)  # a fresh worker process imports it anew
    assert transport.decode(envelope).chisq() == pytest.approx(envelope["chisq"], rel=1e-12)


RAISING_ON_WORKER = """
import os


def line(x, m, b):
    if os.environ.get("JBR_TEST_MODEL_EXPLODES"):
        raise RuntimeError("model exploded on the worker")
    return m * x + b
"""


def _raising_on_worker_payload(monkeypatch):
    from tests.support.problems import user_module

    module = user_module(RAISING_ON_WORKER, name=f"raising_{uuid.uuid4().hex[:8]}")
    monkeypatch.delenv("JBR_TEST_MODEL_EXPLODES", raising=False)
    envelope = transport.encode(line_curve(module.line))
    assert envelope["chisq"] is not None
    monkeypatch.setenv("JBR_TEST_MODEL_EXPLODES", "1")
    return envelope


def test_model_that_raises_at_the_start_point_is_refused(monkeypatch):
    error = refused(_raising_on_worker_payload(monkeypatch))
    assert "start point" in error.cause
    assert "problem.chisq()" in error.fix


def test_model_that_raises_names_the_exception(monkeypatch):
    refused(_raising_on_worker_payload(monkeypatch), "RuntimeError", "model exploded")


def test_nan_chisq_at_start():
    problem = gaussian_problem(SCALE=float("nan"))  # the model returns nan
    envelope = transport.encode(problem)
    assert envelope["chisq"] is None
    error = refused(envelope)
    assert "chisq is nan at the start point" in error.cause
    assert "dy must be > 0" in error.fix


def test_inf_chisq_at_start():
    problem = gaussian_problem(SCALE=float("inf"))
    error = refused(transport.encode(problem))
    assert "chisq is" in error.cause and "start point" in error.cause


def _zero_dy_payload():
    [curve] = gaussian_problem().models
    curve.dy[:] = 0  # Curve() refuses dy=0; a user can still set it afterwards
    with np.errstate(divide="ignore"):
        assert not math.isfinite(FitProblem(curve).chisq())
        return transport.encode(curve)


def test_zero_dy_is_refused():
    # bumps.serialize cannot rebuild a Curve with dy = 0 ("uncertainty must be positive"),
    # so the problem travels pickled, and the worker's preflight refuses it
    payload = _zero_dy_payload()
    assert payload["encoding"] == transport.PICKLE_ENCODING
    error = refused(payload)
    assert "chisq is inf at the start point" in error.cause


def test_zero_dy_fix_points_at_dy():
    error = refused(_zero_dy_payload())
    assert "dy" in error.fix


@pytest.mark.parametrize("factor", [1.01, 0.5, 1 + 1e-6])
def test_preflight_mismatch(envelope, factor):
    wrong = envelope["chisq"] * factor
    error = refused(edited(envelope, chisq=wrong))
    assert repr(wrong) in error.cause
    assert "differently on the worker" in error.cause
    assert "same versions" in error.fix


def test_preflight_without_expected_chisq(envelope):
    error = refused(edited(envelope, chisq=None))
    assert "None" in error.cause


def test_preflight_tolerates_rounding_noise(envelope):
    close = envelope["chisq"] * (1 + 1e-12)
    assert transport.decode(edited(envelope, chisq=close)).chisq() == envelope["chisq"]


def test_verify_false_skips_the_preflight(envelope):
    problem = transport.decode(edited(envelope, chisq=1.0), verify=False)
    assert problem.chisq() == envelope["chisq"]


def test_verify_preflight_returns_chisq():
    problem = gaussian_problem()
    assert transport.verify_preflight(problem, problem.chisq()) == problem.chisq()
