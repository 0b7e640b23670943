"""`bumps-remote slurm adapt` on a real Slurm: no job while nothing waits, jobs up to the
maximum when fits queue, and back to none once the workers are idle."""

from __future__ import annotations

import signal

from ..support.problems import gaussian_problem
from ..support.waiting import wait_until

# the node has 2 CPUs: two worker jobs of one CPU each run at once
MAXIMUM = 2
FITS = 3
# worker jobs start within seconds; their workers warm up in 6 to 20 s (measured, alone and
# on a loaded machine); the fits are tiny
FITS_DONE = 180
IDLE_SECONDS = 2


def test_adapt_scales_with_the_queue_up_to_the_maximum_and_back_to_zero(slurm_site):
    site = slurm_site
    adapt, log = site.background(
        "adapt", "--min", "0", "--max", str(MAXIMUM), "--time", "10", "--cpus-per-task", "1",
        "--interval", "1", "--idle-seconds", str(IDLE_SECONDS),
    )  # fmt: skip
    wait_until(lambda: "0 fits queued" in log.read_text(), 60, "adapt's first look")
    assert site.cluster.job_ids() == [], "a job was submitted with nothing queued"

    seen: set[str] = set()

    def jobs_now() -> list[str]:
        ids = site.cluster.job_ids()
        seen.update(ids)
        return ids

    fits = [site.submit_fit(gaussian_problem()) for _ in range(FITS)]
    wait_until(lambda: len(jobs_now()) == MAXIMUM, 60, f"{MAXIMUM} Slurm jobs")

    def all_ended() -> bool:
        jobs_now()
        return all(site.job(f["id"])["status"] in ("succeeded", "failed") for f in fits)

    try:
        wait_until(all_ended, FITS_DONE, "every fit to end", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{log.read_text()}\n{site.worker_logs()}") from None
    records = [site.job(f["id"]) for f in fits]
    assert [r["status"] for r in records] == ["succeeded"] * FITS, records
    assert {r["worker"].split("@")[0] for r in records} <= {f"bumps-remote-{i}" for i in seen}

    # idle workers are told to shut down; their jobs end by themselves
    wait_until(lambda: not jobs_now(), 90, "the idle workers' jobs to end", interval=0.5)
    assert len(seen) == MAXIMUM, f"jobs beyond the maximum: {sorted(seen)}\n{log.read_text()}"
    assert "retired idle worker" in log.read_text()
    wait_until(lambda: not site.workers(), 30, "the retired workers to leave GET workers")

    adapt.send_signal(signal.SIGTERM)
    assert adapt.wait(30) == 0
    assert "stopped" in log.read_text()
