"""The fit launcher evaluates tiny refl1d experiments before it forks (worker/fit/warm.py):
a refl1d fit process finds refl1d's numba kernels loaded, and its first evaluation does not
load (~60 ms of CPU from numba's cache) or compile them again."""

from __future__ import annotations

import json
import os

import pytest

from jupyter_bumps_remote.shared import jobs

from ..support.problems import gaussian_fit_of, user_module

pytest.importorskip("refl1d")

# A gaussian model that, at its first call in a fit process, looks at refl1d's kernels
# before anything in that process has evaluated a refl1d model (the job is a gaussian, the
# spare's rehearsal a straight line), then evaluates a film on silicon, plain and magnetic
# with its profile contracted, and says which kernels that evaluation had to load.
PROBE_SOURCE = """
import json, os, sys, time
import numpy as np

DONE = [False]
SUBMITTER = 0
KERNELS = "refl1d.lib.numba"

def kernel_counts():
    kernels = sys.modules[KERNELS]
    return {name: len(getattr(kernels, name).overloads) for name in kernels.__all__}

def evaluate_films():
    from refl1d import names
    angles = np.linspace(0.1, 3.0, 40)
    def probe():
        return names.NeutronProbe(T=angles, dT=0.01, L=4.75, dL=0.0475)
    def sample(film):
        return names.SLD(name="Si", rho=2.07)(0, 5) | film | names.SLD(name="air", rho=0.0)
    film = names.SLD(name="film", rho=4.0)(150, 8)
    magnetic = names.MagneticSlab(names.SLD(name="mag", rho=4.0)(150, 8), rhoM=1.0)
    polarized = names.PolarizedNeutronProbe([probe(), None, None, probe()])
    names.Experiment(sample=sample(film), probe=probe()).reflectivity()
    names.Experiment(sample=sample(magnetic), probe=polarized, dA=1).reflectivity()

def report():
    imported = KERNELS in sys.modules
    before = kernel_counts() if imported else {}
    cpu = time.process_time()
    evaluate_films()
    cpu = time.process_time() - cpu
    after = kernel_counts()
    loaded = {name: n - before.get(name, 0) for name, n in after.items()}
    loaded = {name: n for name, n in loaded.items() if n}
    found = {"imported_before": imported, "loaded": loaded, "cpu_ms": cpu * 1000}
    print("KERNELS " + json.dumps(found), flush=True)

def probing_gaussian(x, A, mu, sigma):
    if not DONE[0] and os.getpid() != SUBMITTER:  # on the worker, once
        DONE[0] = True
        report()
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
"""


def probing_problem():
    module = user_module(PROBE_SOURCE, name="refl1d_kernel_probe")
    vars(module).update(SUBMITTER=os.getpid())
    return gaussian_fit_of(module.probing_gaussian)


def reported(remote, job_id: str) -> dict:
    outputs = [e["data"] for e in remote.events(job_id) if e["type"] == "output"]
    text = "".join(o["text"] for o in outputs if o["stream"] == "stdout")
    for line in text.splitlines():
        if line.startswith("KERNELS "):
            return json.loads(line[len("KERNELS ") :])
    raise AssertionError(f"the model reported nothing: {outputs}")


def test_a_refl1d_fit_finds_refl1d_kernels_loaded_before_its_first_evaluation(remote):
    job = remote.submit(probing_problem(), "lm")
    record = remote.wait(job["id"], timeout=180)
    assert record["status"] == jobs.SUCCEEDED, record.get("error")
    found = reported(remote, job["id"])
    # no timing asserted: the kernels' state says it, under any load
    assert found["imported_before"], found
    assert found["loaded"] == {}, found
