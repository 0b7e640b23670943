"""versions: what a payload records, the queue it goes to, the queues a worker consumes, and
the messages when versions differ."""

from __future__ import annotations

import functools
import sys
import types

import numpy as np
import pytest

from jupyter_bumps_remote.shared import versions

from ..support.problems import gaussian_problem

PREFIX = "bumps-remote."
JOB = {"python": "3.11.7", "bumps": "1.0.5", "numpy": "2.4.6", "libraries": {}}


def fake_library(monkeypatch, name: str, version: str) -> types.ModuleType:
    """A stand-in for refl1d or sasmodels: a module named like it, with its version."""
    module = types.ModuleType(name)
    module.__version__ = version
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_the_version_is_the_imported_modules(monkeypatch):
    # an upgrade installed after the import does not run until the kernel restarts
    fake_library(monkeypatch, "refl1d", "0.0.1-imported")
    assert versions.library_version("refl1d") == "0.0.1-imported"


def model_of(module_name: str):
    """An object whose class lives in `module_name` (as refl1d's Experiment in refl1d.*)."""
    return type("Experiment", (), {"__module__": module_name})()


# -- the environment ---------------------------------------------------------------------------


def test_environment_without_a_problem_names_the_libraries_installed_here():
    env = versions.environment()
    assert env["python"].count(".") == 2 and env["bumps"] and env["numpy"] == np.__version__
    assert env["libraries"] == versions.installed_libraries()
    assert set(env["libraries"]) <= set(versions.MODEL_LIBRARIES)


def test_a_pure_bumps_problem_uses_no_model_library():
    env = versions.environment(gaussian_problem())
    assert env["libraries"] == {}
    assert {k: env[k] for k in ("python", "bumps", "numpy")} == {
        k: versions.environment()[k] for k in ("python", "bumps", "numpy")
    }


def test_a_model_from_a_library_records_it_with_its_version(monkeypatch):
    fake_library(monkeypatch, "refl1d", "1.0.1")
    problem = types.SimpleNamespace(models=[model_of("refl1d.experiment")])
    assert versions.libraries_used(problem) == {"refl1d": "1.0.1"}


def test_a_subclass_defined_elsewhere_still_counts(monkeypatch):
    fake_library(monkeypatch, "sasmodels", "1.1.0")
    base = type("Experiment", (), {"__module__": "sasmodels.bumps_model"})
    mine = type("MyExperiment", (base,), {"__module__": "__main__"})()
    assert versions.libraries_used([mine]) == {"sasmodels": "1.1.0"}


def test_objects_held_by_a_model_and_functions_naming_a_library_count(monkeypatch):
    refl1d = fake_library(monkeypatch, "refl1d", "1.0.1")
    sasmodels = fake_library(monkeypatch, "sasmodels", "1.1.0")
    # deep inside a model: a sample layer of refl1d
    held = types.SimpleNamespace(sample=[{"layer": model_of("refl1d.sample")}])
    # a plain function that calls sasmodels (a global it names), wrapped in a partial
    namespace = {"sasmodels": sasmodels}
    exec("def kernel(x, a):\n    return sasmodels.compute(x, a)\n", namespace)  # noqa: S102
    curve = types.SimpleNamespace(fn=functools.partial(namespace["kernel"], a=1), data=held)
    assert versions.libraries_used([curve]) == {"refl1d": "1.0.1", "sasmodels": "1.1.0"}
    assert refl1d.__version__ == "1.0.1"


def test_arrays_and_other_packages_are_not_libraries():
    problem = types.SimpleNamespace(x=np.arange(3), fn=np.sin, scale=2.0, name="s")
    assert versions.libraries_used(problem) == {}


def test_a_self_referencing_problem_ends():
    a = types.SimpleNamespace()
    a.me = a
    a.others = [a, {"again": a}]
    assert versions.libraries_used(a) == {}


# -- queues ----------------------------------------------------------------------------------------


def test_the_queue_names_python_minor_bumps_exact_numpy_minor_and_each_library():
    assert versions.queue_name(PREFIX, JOB) == "bumps-remote.py3.11-bumps1.0.5-numpy2.4"
    with_libraries = {**JOB, "libraries": {"sasmodels": "1.1.0", "refl1d": "1.0.1"}}
    assert versions.queue_name(PREFIX, with_libraries) == (
        "bumps-remote.py3.11-bumps1.0.5-numpy2.4-refl1d1.0.1-sasmodels1.1.0"
    )


def test_what_does_not_change_numbers_shares_a_queue():
    other_patches = {**JOB, "python": "3.11.2", "numpy": "2.4.0"}
    assert versions.queue_name(PREFIX, other_patches) == versions.queue_name(PREFIX, JOB)
    for changed in ({"bumps": "1.0.4"}, {"numpy": "2.3.5"}, {"python": "3.12.1"}):
        assert versions.queue_name(PREFIX, {**JOB, **changed}) != versions.queue_name(PREFIX, JOB)


def test_a_payload_from_before_libraries_were_recorded_goes_to_the_pure_bumps_queue():
    old = {"python": "3.11.7", "bumps": "1.0.5", "numpy": "2.4.6"}
    assert versions.queue_name(PREFIX, old) == versions.queue_name(PREFIX, JOB)


def test_a_worker_consumes_every_combination_of_its_libraries():
    worker = {**JOB, "libraries": {"refl1d": "1.0.1", "sasmodels": "1.1.0"}}
    base = "bumps-remote.py3.11-bumps1.0.5-numpy2.4"
    assert versions.worker_queues(PREFIX, worker) == [
        base,
        base + "-refl1d1.0.1",
        base + "-sasmodels1.1.0",
        base + "-refl1d1.0.1-sasmodels1.1.0",
    ]
    for libraries in ({}, {"refl1d": "1.0.1"}, {"sasmodels": "1.1.0"}, worker["libraries"]):
        job = {**JOB, "python": "3.11.1", "libraries": libraries}
        assert versions.queue_name(PREFIX, job) in versions.worker_queues(PREFIX, worker)
    assert versions.worker_queues(PREFIX, JOB) == [base]


def test_check_names_a_malformed_field():
    versions.check(JOB)
    with pytest.raises(ValueError, match=r"environment\.libraries"):
        versions.check({**JOB, "libraries": ["refl1d"]})
    with pytest.raises(ValueError, match=r"environment\.numpy"):
        versions.check({**JOB, "numpy": 2.4})


# -- differences and messages ----------------------------------------------------------------------


def test_mismatch_is_none_where_only_patches_of_python_and_numpy_differ():
    assert versions.mismatch({**JOB, "python": "3.11.0", "numpy": "2.4.0"}, JOB) is None
    worker = {**JOB, "libraries": {"refl1d": "1.0.1"}}  # more libraries than the job uses
    assert versions.mismatch(JOB, worker) is None


def test_mismatch_names_each_difference_and_the_fix():
    job = {**JOB, "bumps": "1.0.4", "numpy": "2.3.1", "libraries": {"refl1d": "1.0.1"}}
    worker = {**JOB, "libraries": {"sasmodels": "1.1.0"}}
    cause, fix = versions.mismatch(job, worker)
    assert "made with bumps 1.0.4, numpy 2.3.1, refl1d 1.0.1" in cause
    assert "this worker has bumps 1.0.5, numpy 2.4.6, no refl1d" in cause
    assert "Install bumps 1.0.4, numpy 2.3.1, refl1d 1.0.1 on the worker" in fix
    assert 'pip install "bumps==1.0.4" "numpy==2.3.*" "refl1d==1.0.1"' in fix
    assert "or fit from a kernel with Python 3.11, bumps 1.0.5, numpy 2.4.6" in fix


def test_mismatch_of_python_says_which_worker_to_run():
    cause, fix = versions.mismatch({**JOB, "python": "3.10.4"}, JOB)
    assert "made with Python 3.10.4" in cause and "has Python 3.11.7" in cause
    assert fix.startswith("Run a worker with Python 3.10;")
    assert "Python 3.11" in fix


def test_mismatch_of_a_library_version():
    job = {**JOB, "libraries": {"sasmodels": "1.0.12"}}
    cause, fix = versions.mismatch(job, {**JOB, "libraries": {"sasmodels": "1.1.0"}})
    assert "sasmodels 1.0.12" in cause and "this worker has sasmodels 1.1.0" in cause
    assert '"sasmodels==1.0.12"' in fix


def test_the_server_names_what_differs_from_each_kind_of_live_worker():
    job = {**JOB, "libraries": {"refl1d": "1.0.1"}}
    old_bumps = {**JOB, "bumps": "1.0.4", "libraries": {"refl1d": "1.0.1", "sasmodels": "1.1.0"}}
    workers = [
        {"name": "a@h1", "environment": old_bumps},
        {"name": "b@h2", "environment": old_bumps},
        {"name": "c@h3", "environment": JOB},
    ]
    message = versions.no_worker_message(job, workers)
    assert message.startswith(
        "no live worker can run this job: it was made with Python 3.11, bumps 1.0.5, "
        "numpy 2.4, refl1d 1.0.1"
    )
    assert "2 workers (a@h1, b@h2) differ: bumps 1.0.4 (the job's: 1.0.5); they serve " in message
    assert "Python 3.11, bumps 1.0.4, numpy 2.4 with any of refl1d 1.0.1, sasmodels" in message
    assert "1 worker (c@h3) differs: no refl1d (the job uses refl1d 1.0.1); it serves" in message
    assert "numpy 2.4 without model libraries" in message
    assert 'pip install "bumps==1.0.5" "numpy==2.4.*" "refl1d==1.0.1"' in message
    assert "wait_for_worker" in message


def test_queues_of_an_older_worker_entry():
    assert versions.queues_of({"queues": ["a", "b"]}) == ["a", "b"]
    assert versions.queues_of({"queue": "a"}) == ["a"]
    assert versions.queues_of({}) == []
