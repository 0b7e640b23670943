"""A sweep's problems: the round trip of each kind checked once (kernel/sweep_encoder.py); a
member that travels unchecked is checked by the worker's preflight, which says why it fails
(transport.decode)."""

from __future__ import annotations

import json
import threading

import pytest

from jupyter_bumps_remote.kernel.sweep_encoder import SweepEncoder, kind_of
from jupyter_bumps_remote.shared import transport

from ..support.problems import (
    gaussian_fit_of,
    gaussian_problem,
    lossy_problem,
    shared_shift_problem,
    user_module,
)


def test_a_sweep_of_one_kind_is_checked_once_and_every_member_decodes_the_same():
    problems = [gaussian_problem(n=30 + i) for i in range(6)]
    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)
    payloads = [encoder.encode(problem) for problem in problems]
    assert encoder.checked == 1
    assert "round_trip_checked" not in payloads[0]
    assert [p.get("round_trip_checked") for p in payloads[1:]] == [False] * 5
    assert {p["encoding"] for p in payloads} == {transport.PICKLE_ENCODING}
    for problem, payload in zip(problems, payloads, strict=True):
        copy = transport.decode(payload)  # the worker's preflight passes
        assert len(next(iter(copy.models)).x) == len(next(iter(problem.models)).x)
        assert float(copy.chisq()) == pytest.approx(float(problem.chisq()), rel=1e-12)


def test_each_kind_is_checked_as_its_first_member():
    two_peaks = user_module(
        "import numpy as np\n"
        "def lorentz(x, A, mu, sigma):\n"
        "    return A / (1 + ((x - mu) / sigma) ** 2)\n",
        name="other_notebook_code",
    )
    problems = [
        gaussian_problem(),
        gaussian_fit_of(two_peaks.lorentz),
        gaussian_problem(n=40),
        gaussian_fit_of(two_peaks.lorentz, n=40),
    ]
    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)
    payloads = [encoder.encode(problem) for problem in problems]
    assert encoder.checked == 2
    assert [p.get("round_trip_checked", True) for p in payloads] == [True, True, False, False]
    assert kind_of(problems[0]) == kind_of(problems[2]) != kind_of(problems[1])


def test_a_member_that_does_not_pack_as_its_kind_did_is_checked_as_a_first():
    held = gaussian_problem(n=40)
    next(iter(held.models)).lock = threading.Lock()  # does not pickle; bumps' document skips it
    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)
    first, second = encoder.encode(gaussian_problem()), encoder.encode(held)
    assert encoder.checked == 2
    assert first["encoding"] == transport.PICKLE_ENCODING
    assert second["encoding"] == transport.ENCODING and "round_trip_checked" not in second


def test_an_unchecked_member_that_changes_in_the_pickle_fails_on_the_worker_saying_why():
    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)
    encoder.encode(lossy_problem(1.0))  # its kind's check passes: scale 1 survives
    payload = encoder.encode(lossy_problem(2.0))
    assert payload["round_trip_checked"] is False
    with pytest.raises(transport.PayloadError) as caught:
        transport.decode(payload)
    message = str(caught.value)
    assert "at the start point but the kernel computed" in message
    assert "checked here, not in the kernel" in message and "submit()" in message
    # submitted alone, the same problem is refused in the kernel, saying what differs
    with pytest.raises(transport.PayloadError, match="the copy has chisq"):
        transport.encode(lossy_problem(2.0), transport.SWEEP_ENCODINGS)


def test_an_unchecked_member_whose_parameters_differ_fails_naming_them():
    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)
    encoder.encode(gaussian_problem())
    payload = encoder.encode(gaussian_problem(n=40))
    # as if the copy had a parameter renamed: the envelope lists one it does not have
    payload = json.loads(json.dumps(payload))
    payload["parameters"][2]["name"] = "width"
    with pytest.raises(transport.PayloadError) as caught:
        transport.decode(payload)
    assert "3 fitted parameters instead of 3; extra: sigma; missing: width" in str(caught.value)


def test_an_unchecked_member_that_loses_a_shared_parameter_fails_away_from_the_start():
    """bumps' document splits a parameter held by a callable object and by a model, which
    the start point does not show: the worker compares the χ² away from it, as the kernel's
    check would have."""
    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)
    first = encoder.encode(shared_shift_problem(shared=False, lock=True))
    assert first["encoding"] == transport.ENCODING  # the lock: bumps' document, checked
    payload = encoder.encode(shared_shift_problem(shared=True, lock=True))
    assert payload["round_trip_checked"] is False and payload["encoding"] == transport.ENCODING
    assert isinstance(payload["moved_chisq"], float)  # the kernel's, for the worker's check
    with pytest.raises(transport.PayloadError) as caught:
        transport.decode(payload)
    message = str(caught.value)
    assert "a little away from the start point" in message, message
    assert f"instead of {payload['moved_chisq']!r}" in message and "Submit it alone" in message


def test_one_odd_member_leaves_its_kind_in_the_encoding_of_its_first():
    """[plain, holding a lock, sharing a parameter]: the odd one goes as bumps' document
    (checked); the last goes pickled like the first, which keeps its shared parameter."""
    encoder = SweepEncoder(transport.SWEEP_ENCODINGS)
    problems = [
        shared_shift_problem(shared=False),
        shared_shift_problem(shared=False, lock=True),
        shared_shift_problem(shared=True),
    ]
    payloads = [encoder.encode(problem) for problem in problems]
    assert [p["encoding"] for p in payloads] == [
        transport.PICKLE_ENCODING,
        transport.ENCODING,
        transport.PICKLE_ENCODING,
    ]
    copy = transport.decode(payloads[2])  # passes: the pickle keeps it shared
    copy.setp([1.0, 2.0])
    problems[2].setp([1.0, 2.0])
    assert float(copy.chisq()) == pytest.approx(float(problems[2].chisq()), abs=1e-12)


def test_a_checked_payload_keeps_the_preflight_message_about_versions():
    payload = transport.encode(gaussian_problem(), transport.SWEEP_ENCODINGS)
    payload["chisq"] = float(payload["chisq"]) * 2
    with pytest.raises(transport.PayloadError, match="same versions of the model's packages"):
        transport.decode(payload)


def test_a_problem_that_cannot_be_described_is_always_checked():
    class Opaque:
        @property
        def models(self):
            raise RuntimeError("no models to show")

    assert kind_of(Opaque()) is None
