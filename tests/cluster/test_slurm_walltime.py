"""A walltime reached mid-fit on a real Slurm (docs/cluster.md#drain-and-checkpoints): Slurm
sends SIGTERM to every process of the worker's job at once (main, pool, fit launcher and
fit processes); the worker drains (its fit's last checkpoint, the job back on its queue,
exit within --drain-seconds, before KillWait), and the worker of the next Slurm job resumes
the fit to a complete result with as many steps as asked
(docs/reliability.md#26-a-stopped-worker-drains).

The worker's own --lifetime is left far beyond the walltime (the script says --time 10, the
job is submitted with sbatch --time=1), so that the walltime itself stops it. Slurm checks
time limits every 30 s: the job is signalled 60 to 90 s after it started. The model is slow
in the first job only (it reads SLURM_JOB_ID), so that the fit is mid-way at the walltime
whatever the machine's load, and the resumed run ends seconds after the drain.
"""

from __future__ import annotations

import re
import time

from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore

from ..support.checkpoints import chains, continues, resumed_at, steps_left_alone, stored
from ..support.problems import gaussian_fit_of, user_module
from ..support.waiting import wait_until

DRAIN_SECONDS = 8  # below the test Slurm's KillWait (tests/support/slurm.py)
CHECKPOINT_INTERVAL = 2
# ~8 generations a second while slow, idle: 1500 outlast the walltime's 90 s
FITTER, OPTIONS = "dream", {"steps": 1500, "burn": 0}
SOURCE = """
import os
import time
import numpy as np

SLOW_JOB = ""
DELAY = 0.004

def slow_in_one_job(x, A, mu, sigma):
    if os.environ.get("SLURM_JOB_ID") == SLOW_JOB:
        time.sleep(DELAY)
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
"""
WORKER_UP = 120
SCRIPT_OPTIONS = ("--time", "10", "--cpus-per-task", "1", "--mem", "500M")


def slow_in_one_job(slurm_job: str):
    """The tests' gaussian fit, its model slow in that Slurm job's fits only."""
    module = user_module(SOURCE, "walltime_notebook_code")
    vars(module)["SLOW_JOB"] = slurm_job
    return gaussian_fit_of(module.slow_in_one_job)


def test_a_walltime_reached_mid_fit_drains_and_the_next_job_resumes_it(slurm_site):
    site = slurm_site
    started = time.monotonic()
    site.env["BUMPS_REMOTE_CHECKPOINT_INTERVAL"] = str(CHECKPOINT_INTERVAL)
    site.cli("script", *SCRIPT_OPTIONS, "--drain-seconds", str(DRAIN_SECONDS))
    script = site.dir / "worker.sbatch"
    assert f"--drain-seconds {DRAIN_SECONDS}" in script.read_text()
    # the generated script, its walltime cut to one minute on sbatch's command line
    first_job = site.cluster.command("sbatch", "--parsable", "--time=1", str(script)).strip()
    first = f"bumps-remote-{first_job}@{site.cluster.node}"

    settings = WorkerSettings(redis_url=site.redis.url)
    store = JobStore(site.redis.client(), **settings.store_settings())
    body = {
        "payload": transport.encode(slow_in_one_job(first_job)),
        "fitter": FITTER,
        "options": OPTIONS,
        "seed": 1,
        "wait_for_worker": True,
    }
    response = site.server.api("POST", "jobs", json=body)
    assert response.status_code == 201, response.text
    job_id, owner = response.json()["id"], response.json()["owner"]
    wait_advertised(site, first)
    wait_until(
        lambda: site.job(job_id)["status"] == jobs.RUNNING, 60, "the fit to run on the first"
    )
    assert site.job(job_id)["worker"] == first
    # the next worker starts while the first runs (the node's other CPU) and waits
    submitted = site.cli("submit", *SCRIPT_OPTIONS, "--drain-seconds", str(DRAIN_SECONDS))
    found = re.search(r"submitted Slurm job (\d+)", submitted.stdout)
    assert found, submitted.stdout
    second = f"bumps-remote-{found.group(1)}@{site.cluster.node}"
    wait_advertised(site, second)

    # the walltime: Slurm signals the first job's processes; its worker drains
    seen: list[dict | None] = []

    def drained():
        requeued = [e for e in store.events(owner, job_id) if e["type"] == "requeued"]
        if requeued:
            # the drain's checkpoint, stored before the requeued event; the next run's first
            # comes a checkpoint interval after it resumed
            seen[:] = [stored(store, owner, job_id)]
        return requeued

    try:
        requeued = wait_until(drained, 150, "the requeued event at the walltime", interval=0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}: {site.job(job_id)}\n{site.worker_logs()}") from None
    drained_at = time.monotonic()
    assert requeued[0]["data"]["reason"] == "drained", requeued
    assert requeued[0]["data"]["worker"].startswith(first + "/"), requeued

    record = site.wait_job(job_id, 120)
    ended = time.monotonic()
    assert record["status"] == jobs.SUCCEEDED, record
    assert record["worker"] == second, record
    assert record["attempt"] == 1, record  # the drained attempt does not count
    last = seen[0]
    assert last is not None, "no checkpoint of the first run"
    resumed = resumed_at(store.events(owner, job_id))
    assert resumed == {last["step"]}, (resumed, last["step"])
    assert site.server.api("GET", f"jobs/{job_id}/session.h5").status_code == 200
    final = stored(store, owner, job_id)  # the fit's end state, stored before its session
    assert final is not None
    assert final["step"] == steps_left_alone(FITTER, OPTIONS)
    assert continues(chains(last), chains(final))

    # the first job ended by its time limit, its worker gone within the drain's time
    wait_until(
        lambda: first_job not in site.cluster.job_ids(),
        DRAIN_SECONDS + site.cluster.KILL_WAIT + 30,
        f"Slurm job {first_job} to end",
    )
    log = (site.dir / "logs" / f"bumps-remote-{first_job}.out").read_text(errors="replace")
    assert "DUE TO TIME LIMIT" in log, log[-3000:]
    print(
        f"\nwalltime drain at {drained_at - started:.0f} s (resumed from step "
        f"{last['step']}), fit done at {ended - started:.0f} s, "
        f"test {time.monotonic() - started:.0f} s"
    )


def wait_advertised(site, name: str) -> None:
    try:
        wait_until(
            lambda: any(w["name"] == name for w in site.workers()),
            WORKER_UP,
            f"worker {name} in GET workers",
        )
    except AssertionError as e:
        raise AssertionError(f"{e}\n{site.worker_logs()}") from None
