"""Which tier each test belongs to (the markers pyproject.toml registers), so that a run can
pick one: `pytest -m unit` (what `./run test --fast` runs), `-m "not slow"`, `-m browser`.

Markers come from where a test lives, plus a list of slow tests, instead of decorators
spread over many files: moving a test moves its tier, and the slow list is one place to
update from the 30 slowest tests that every CI run prints (`--durations=30`).
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

# unit: no processes of the package's stack (no Redis, worker, Jupyter server or browser)
UNIT_DIRECTORIES = ("unit", "support")
# browser: drive Debian's chromium through Playwright (tests/support/browser.py) against a
# real Jupyter server; known by the fixture, since tests/ui also holds packaging tests
BROWSER_FIXTURE = "browser"

# slow: more than about 10 s alone, by the durations of full runs (a whole module, a test
# with all its parameters, or one parameter). Browser tests are all slow (each starts
# JupyterLab and a browser) and are not listed.
SLOW = frozenset(
    {
        "binder/test_binder_replay.py",
        "binder/test_readme_demo.py",
        # Slurm worker jobs: each worker warms up, runs fits, shuts down (docs/cluster.md)
        "cluster/test_slurm_adapt.py",
        "cluster/test_slurm_workers.py::test_a_fit_runs_on_a_slurm_launched_worker_listed_and_cancelled",
        # a worker job's one-minute walltime reached mid-fit, the next job's worker resumes it
        "cluster/test_slurm_walltime.py",
        # hosts in network namespaces: Redis, a Jupyter server, two workers, links cut mid-fit
        "cluster/test_other_hosts.py",
        "cluster/test_worker_lifetime.py",
        # a JupyterHub, two users' servers and kernels, a browser, fits by every route
        "hub/test_two_users.py",
        # a worker, two owners' fits, two Jupyter servers on a fenced Redis user (~30 s)
        "hub/test_redis_fence.py",
        # a worker and two owners on a fenced Redis user, a second worker with gossip (~25 s)
        "hub/test_fence_probes.py",
        "kernel/test_console.py",
        "kernel/test_docs_code.py::test_python_blocks[README.md]",
        "kernel/test_magic.py::test_a_job_survives_a_kernel_restart",
        "kernel/test_notebooks.py::test_quickstart",
        "kernel/test_notebooks.py::test_real_world",
        "reliability/test_cancel_restart.py::test_6_a_job_cancelled_while_no_worker_runs_never_starts",
        # a DREAM fit drained by a SIGTERM to every process of its worker, resumed by another
        "reliability/test_drain_job_wide.py",
        # a worker, a Jupyter server and two owners' fits; the bomb that leaves its session
        # outlasts the pool process's 10 s of killing its leftovers
        "reliability/test_hostile_models.py::test_another_owners_keys_are_out_of_reach_by_every_route",
        "reliability/test_hostile_models.py::test_a_fork_bomb_that_leaves_the_fits_session_is_removed",
        "reliability/test_lost_workers.py",
        "reliability/test_runs_once.py",
        # session builds on a worker killed or drained mid-build (a model slow to save for
        # ~25 s), and behind a backlog of 40 fits (~15-30 s each)
        "reliability/test_session_builds.py",
        "server/test_embedded.py::test_a_server_with_no_configuration_runs_fits_and_keeps_them",
        # starts a server of its own, with tight per-user limits
        "server/test_fuzz.py::test_submissions_over_the_limits_hold_to_the_schema",
        # fits made to outlast a server's shutdown (their max_time is the test's point)
        "server/test_embedded_restart.py",
        "server/test_server_restart.py",
        # builds the wheel in a fresh clone: jlpm install and the production build
        "ui/test_packaging.py::test_wheel_from_a_fresh_clone_contains_the_labextension",
    }
)


def under(path: Path, directories: tuple[str, ...]) -> bool:
    where = path.resolve().relative_to(TESTS).as_posix()
    return any(where.startswith(directory + "/") for directory in directories)


def slow_names(path: Path, name: str) -> set[str]:
    """The ways SLOW may name the test `name` (its node name, parameters included) of the
    module at `path`."""
    module = path.resolve().relative_to(TESTS).as_posix()
    return {module, f"{module}::{name}", f"{module}::{name.split('[')[0]}"}


def tiers(path: Path, name: str, fixtures: list[str]) -> list[str]:
    """The markers of the test `name` in the module at `path`, which uses `fixtures`."""
    if under(path, UNIT_DIRECTORIES):
        return ["unit"]
    if BROWSER_FIXTURE in fixtures:
        return ["browser", "slow"]
    return ["slow"] if slow_names(path, name) & SLOW else []
