"""`bumps-remote slurm submit, list, cancel` on a real Slurm: a fit sent to the Jupyter
server runs on a worker that Slurm launched, and the Redis password is nowhere in Slurm."""

from __future__ import annotations

import re
import subprocess

from ..support.problems import gaussian_problem
from ..support.waiting import wait_until

# a worker job starts within seconds on the idle node; its worker warms up in about 6 s
# alone (measured), more on a loaded machine
WORKER_UP = 120
FIT_DONE = 120


def test_a_fit_runs_on_a_slurm_launched_worker_listed_and_cancelled(slurm_site):
    site = slurm_site
    submitted = site.cli("submit", "--time", "10", "--cpus-per-task", "1", "--mem", "500M")
    found = re.search(r"submitted Slurm job (\d+)", submitted.stdout)
    assert found, submitted.stdout
    job_id = found.group(1)
    name = f"bumps-remote-{job_id}@{site.cluster.node}"

    def advertised():
        return any(w["name"] == name for w in site.workers())

    try:
        wait_until(advertised, WORKER_UP, f"worker {name} in GET workers")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{site.worker_logs()}") from None
    listed = site.cli("list").stdout
    row = next(line for line in listed.splitlines() if line.startswith(job_id + " "))
    assert "RUNNING" in row and name in row and "0 of 1" in row, listed

    job = site.submit_fit(gaussian_problem())
    record = site.wait_job(job["id"], FIT_DONE)
    assert record["status"] == "succeeded", record
    assert record["worker"] == name

    # the password is in the settings file only (mode 0600), not in the script, nor in the
    # job's environment or anything else Slurm keeps
    settings = site.dir / "worker.env"
    assert settings.stat().st_mode & 0o777 == 0o600
    assert site.PASSWORD in settings.read_text()
    assert site.PASSWORD not in (site.dir / "worker.sbatch").read_text()
    held = subprocess.run(
        ["grep", "-rl", site.PASSWORD, str(site.cluster.dir)], capture_output=True, text=True
    )
    assert held.stdout == "", f"the Redis password is in Slurm's files: {held.stdout}"

    cancelled = site.cli("cancel", job_id)
    assert f"cancelled Slurm job {job_id}" in cancelled.stdout
    wait_until(lambda: job_id not in site.cluster.job_ids(), 90, f"Slurm job {job_id} to end")
    # Celery's warm shutdown on scancel's SIGTERM: the worker says goodbye in Redis
    wait_until(lambda: not advertised(), 30, f"worker {name} to leave GET workers")
    assert "Warm shutdown" in site.worker_logs()


def test_wrong_options_and_foreign_jobs_are_refused_with_the_reason(slurm_site):
    site = slurm_site
    short = site.cli("submit", "--time", "4", check=False)
    assert short.returncode == 2 and "--time 4" in short.stderr and "margin" in short.stderr
    assert not site.cluster.job_ids()
    foreign = site.cluster.command(
        "sbatch",
        "--parsable",
        "--job-name=other",
        "--time=1",
        f"--output={site.dir / 'other-%j.out'}",  # not slurm-N.out in the test's cwd
        "--wrap=sleep 60",
    ).strip()
    refused = site.cli("cancel", foreign, check=False)
    assert refused.returncode == 2 and f"{foreign}" in refused.stderr
    assert "not worker jobs of yours" in refused.stderr
    # not cancelled by the refused command: pending, running, or ended by itself (a job of
    # someone else may end for its own reasons: seen once in CI, gone at once, cause unknown)
    state = site.cluster.job_state(foreign)
    assert "JobState=" in state and "JobState=CANCELLED" not in state, state
