"""bumps' DREAM compiles with numba where numba is installed (refl1d requires it). A fit in
its sandbox may not write numba's cache beside bumps' source (every fit and the worker load
it), so the worker compiles DREAM's kernels before it forks the fit processes
(worker/main/warm.py): a fit finds them compiled, and never pays the ~10 s again."""

from __future__ import annotations

import os

import pytest

from jupyter_bumps_remote.shared import jobs

from ..support.talking_models import found, talking_problem

pytest.importorskip("numba")


def test_a_dream_fit_finds_bumps_kernels_compiled_and_cannot_write_their_cache(remote):
    job = remote.submit(talking_problem("numba_caches"), "dream", {"steps": 30, "pop": 4})
    record = remote.wait(job["id"], timeout=180)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    report = found(remote, job["id"], label="NUMBA")
    assert report["de_step_compiled"] >= 1, report
    if os.geteuid() == 0:  # the sandbox's own user applies only under a root worker
        assert report["cache_writable"] is False, report


def test_what_a_fit_compiles_itself_stays_in_its_memory(remote):
    """numba saves what it compiles in the cache its function chose when the worker defined
    it; a fit may not write there, and that must not fail the fit."""
    job = remote.submit(talking_problem("numba_compile"), "lm")
    record = remote.wait(job["id"], timeout=180)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    assert found(remote, job["id"], label="NUMBA") == {"new_overloads": 1}
