"""A build whose fit process failed before building (its sandbox refused) says why."""

from __future__ import annotations

import os

from jupyter_bumps_remote.worker.fit import frames
from jupyter_bumps_remote.worker.fit.channel import Channel
from jupyter_bumps_remote.worker.fit.fit_process import error_of
from jupyter_bumps_remote.worker.fit.sandbox import SandboxError
from jupyter_bumps_remote.worker.pool.session_build import _error_of


def test_the_refusal_of_a_sandbox_is_the_builds_reason():
    read, write = os.pipe()
    try:
        # what spare_child._refuse sends when the fit process cannot enter its sandbox
        Channel(write).outcome("failed", error=error_of(SandboxError("no user namespaces")))
        frame = frames.receive(read)
    finally:
        os.close(read)
        os.close(write)
    assert frame is not None and frame[0] == frames.OUTCOME
    assert _error_of(frame[1]) == "no user namespaces"


def test_an_unreadable_outcome_still_gives_a_reason():
    assert _error_of(b"\xff not json") == "an outcome it could not read"
    assert _error_of(b'{"outcome": "failed", "error": null}') == "no reason given"
