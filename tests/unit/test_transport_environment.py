"""A fit process checks a payload's environment against its own, looking up only what the
comparison reads: the same answer, in the same words, as against its whole environment."""

from __future__ import annotations

import pytest

from jupyter_bumps_remote.shared import transport, versions
from jupyter_bumps_remote.shared.transport import PayloadError

OURS = versions.environment()


def _theirs(**changes) -> dict:
    return {**OURS, "libraries": {}, **changes}


def _ours_with(libraries: dict) -> dict:
    return {**OURS, "libraries": libraries}


def test_without_libraries_it_is_this_process_without_its_libraries():
    assert transport._environment_here(_theirs()) == _ours_with({})


def test_with_libraries_it_is_this_process_whole():
    theirs = _theirs(libraries={"refl1d": "1.0.1"})
    assert transport._environment_here(theirs) == versions.environment()


# Payloads that name no model library, and the libraries a worker could have installed: the
# answer and its words must not depend on the latter.
CASES = [
    _theirs(),
    _theirs(python="2.7.18"),
    _theirs(bumps="0.9.3"),
    _theirs(numpy="1.21.0"),
    _theirs(python="2.7.18", bumps="0.9.3", numpy="1.21.0"),
    {key: value for key, value in _theirs().items() if key != "libraries"},  # an older kernel
]
INSTALLED = [{}, {"refl1d": "1.0.1"}, {"refl1d": "1.0.1", "sasmodels": "1.0.9"}]


@pytest.mark.parametrize("theirs", CASES)
@pytest.mark.parametrize("installed", INSTALLED)
def test_a_payload_naming_no_library_is_judged_alike(theirs, installed):
    assert versions.mismatch(theirs, transport._environment_here(theirs)) == versions.mismatch(
        theirs, _ours_with(installed)
    )


@pytest.mark.parametrize("theirs", CASES[1:5])
def test_a_payload_made_elsewhere_is_still_refused(theirs):
    why = versions.mismatch(theirs, OURS)
    assert why is not None
    with pytest.raises(PayloadError) as refused:
        transport.check_environment({"environment": theirs})
    assert (refused.value.cause, refused.value.fix) == why


def test_a_payload_naming_a_library_missing_here_is_refused():
    theirs = _theirs(libraries={"no_such_model_library": "1.0"})
    with pytest.raises(PayloadError) as refused:
        transport.check_environment({"environment": theirs})
    assert "no_such_model_library 1.0" in refused.value.cause
