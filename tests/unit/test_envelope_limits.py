"""What the server reads of a request before it stores anything: a payload envelope's
environment (its strings become queue names and Redis keys) and parameter summary, JSON
nesting, and the Idempotency-Key header. Each limit refuses with the field and a fix."""

from __future__ import annotations

import copy
import json

import pytest

from jupyter_bumps_remote.shared import bounded_json, jobs, transport, versions
from jupyter_bumps_remote.shared.transport import PayloadError
from tests.support.problems import gaussian_problem


@pytest.fixture(scope="module")
def envelope() -> dict:
    return transport.encode(gaussian_problem())


def changed(envelope: dict, path: tuple, value) -> dict:
    """A deep copy of `envelope` with the value at `path` (keys and indexes) replaced."""
    edited = copy.deepcopy(envelope)
    node = edited
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return edited


def refused(raw, *fragments: str) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        transport.read_envelope(raw)
    message = str(info.value)
    assert info.value.cause and info.value.fix
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return info.value


# -- the environment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        "3.11.9",
        "3.13.0rc1",
        "3.14.0a1+",  # a Python built from a source checkout
        "1.0.5",
        "1.0.0.dev12+g1a2b3c4",
        "2.1.0.dev0+git20240101.abc1234",
        "1!2.0",
        "unknown",  # versions.library_version of a source tree without metadata
    ],
)
def test_real_versions_pass(envelope, version):
    env = {**envelope["environment"], "bumps": version, "libraries": {"refl1d": version}}
    transport.read_envelope(changed(envelope, ("environment",), env))


def test_this_process_environment_passes(envelope):
    here = versions.environment()
    transport.read_envelope(changed(envelope, ("environment",), here))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("python", "3.11:*"),
        ("bumps", "1.0.5 rm -rf"),
        ("bumps", "1.0/../x"),
        ("numpy", "{2.0}"),
        ("numpy", ""),
        ("numpy", 2.0),
        ("bumps", "-1.0"),
        ("bumps", "1" * 65),
        ("bumps", "1.0\n"),
    ],
)
def test_environment_strings_must_be_versions(envelope, field, value):
    bad = changed(envelope, ("environment", field), value)
    refused(bad, f"environment.{field}", "not a version", "encode()")


@pytest.mark.parametrize(
    ("libraries", "fragment"),
    [
        ({"refl1d": "1.0 1"}, "environment.libraries.refl1d"),
        ({"refl:1d": "1.0"}, "not a module name"),
        ({"": "1.0"}, "not a module name"),
        ({f"lib{i}": "1.0" for i in range(transport.MAX_LIBRARIES + 1)}, "at most 16"),
        (["refl1d"], "environment.libraries"),
    ],
)
def test_environment_libraries_are_bounded_and_named(envelope, libraries, fragment):
    refused(changed(envelope, ("environment", "libraries"), libraries), fragment)


def test_an_unknown_environment_field_is_refused(envelope):
    refused(changed(envelope, ("environment", "gpu"), "yes"), "'gpu'", "same jupyter-bumps-remote")


def test_a_refused_value_is_quoted_short(envelope):
    error = refused(changed(envelope, ("environment", "bumps"), "<" * 10_000))
    assert len(str(error)) < 400


def test_queue_names_from_any_accepted_environment_hold_no_key_syntax(envelope):
    """What passes becomes a queue name made only of version characters."""
    env = {"python": "3.14.0a1+", "bumps": "1!1.0.dev1", "numpy": "2.1", "libraries": {"a_b": "x"}}
    envelope = transport.read_envelope(changed(envelope, ("environment",), env))
    queue = versions.queue_name("bumps-remote.", envelope["environment"])
    assert set(queue) <= set("abcdefghijklmnopqrstuvwxyz0123456789.+!_-ABCDEFGHIJKLMNOPQRSTUVWXYZ")


# -- the parameter summary ------------------------------------------------------------------


def parameter(name: object = "p", value: object = 1.0, bounds: tuple = (0.0, 2.0)) -> dict:
    return {"name": name, "value": value, "bounds": list(bounds)}


def test_the_parameter_summary_is_bounded(envelope):
    many = [parameter(f"p{i}") for i in range(transport.MAX_PARAMETERS)]
    transport.read_envelope(changed(envelope, ("parameters",), many))
    too_many = many + [parameter("one more")]
    error = refused(changed(envelope, ("parameters",), too_many), "parameters", "at most 2000")
    assert "(2001)" in error.cause and "Fit fewer parameters" in error.fix


def test_a_parameter_name_is_bounded(envelope):
    long_name = [parameter("x" * transport.MAX_PARAMETER_NAME)]
    transport.read_envelope(changed(envelope, ("parameters",), long_name))
    too_long = [parameter("x" * (transport.MAX_PARAMETER_NAME + 1))]
    refused(changed(envelope, ("parameters",), too_long), "parameters[0].name", "at most 200")


@pytest.mark.parametrize(
    "bad",
    [
        "p",
        [["p", 1.0]],
        [{"name": "p", "value": 1.0}],  # no bounds
        [{**parameter(), "html": "<script>"}],  # nothing beyond the three fields
        [parameter(value="1.0")],
        [parameter(value=True)],
        [parameter(bounds=(0.0,))],
        [parameter(bounds=(0.0, "inf"))],
        [parameter(name=["p"])],
        [parameter(value=10**400)],
    ],
)
def test_each_parameter_is_name_value_and_bounds(envelope, bad):
    refused(changed(envelope, ("parameters",), bad), "parameters")


def test_null_values_and_bounds_pass(envelope):
    """encode() writes null for infinite bounds (JSON has no inf)."""
    fine = [parameter(value=None, bounds=(None, None))]
    transport.read_envelope(changed(envelope, ("parameters",), fine))
    transport.read_envelope({k: v for k, v in envelope.items() if k != "parameters"})


# -- nesting ---------------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [bounded_json.MAX_DEPTH + 1, 1000, 100_000])
def test_deep_json_is_refused_without_recursing(depth):
    with pytest.raises(bounded_json.TooDeep, match="32 levels"):
        bounded_json.loads(nested(depth))


def test_json_as_deep_as_allowed_parses():
    assert bounded_json.loads(nested(bounded_json.MAX_DEPTH)) is not None
    bounded_json.check_depth(json.loads(nested(bounded_json.MAX_DEPTH)))


def test_a_deep_value_inside_an_envelope_is_refused(envelope):
    deep = json.loads(nested(100))
    refused(changed(envelope, ("extra",), deep), "32 levels", "encode()")
    text = json.dumps(envelope)[:-1] + ', "extra": ' + nested(100_000) + "}"
    refused(text, "32 levels")


@pytest.mark.parametrize("raw", ["[NaN]", '{"a": Infinity}', "1e400", b"\xef\xbb\xbf{}"])
def test_only_strict_json_parses(raw):
    with pytest.raises(ValueError) as info:
        bounded_json.loads(raw)
    assert not isinstance(info.value, bounded_json.TooDeep)


# -- Idempotency-Key ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "a", "x" * 200, "3f1c-uuid with spaces ~!"])
def test_idempotency_keys_that_pass(key):
    assert jobs.validate_idempotency_key(key) == (key or None)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("x" * 201, "it has 201"),
        ("clé", "outside printable ASCII"),
        ("a\x01b", "outside printable ASCII"),
        ("a\tb", "outside printable ASCII"),
        ("a\x7fb", "outside printable ASCII"),
    ],
)
def test_idempotency_keys_that_are_refused(key, why):
    with pytest.raises(jobs.JobInputError) as info:
        jobs.validate_idempotency_key(key)
    assert info.value.field == "Idempotency-Key"
    assert "at most 200 printable ASCII characters" in info.value.message
    assert why in info.value.message
