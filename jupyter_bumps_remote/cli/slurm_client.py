"""Slurm's own commands (sbatch, squeue, scancel), run for the current user.

Slurm is reached only through its commands, as a user would: they find the cluster (slurm.conf,
or `SLURM_CONF`) and authenticate (munge) by themselves.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

# squeue's columns, in this order: job id, state, time used, time limit, node (or why pending)
SQUEUE_FORMAT = "%i|%T|%M|%l|%R"
TIMEOUT = 60
# squeue states of a job that will run nothing more
ENDING = frozenset(
    ("COMPLETING", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED")
    + ("OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "STOPPED", "SPECIAL_EXIT", "REVOKED")
)


class SlurmError(RuntimeError):
    """A Slurm command failed or is missing; the message says which and what it printed."""


@dataclasses.dataclass(frozen=True)
class SlurmJob:
    id: str
    state: str
    elapsed: str
    limit: str
    where: str  # the node it runs on, or (why it waits)

    @property
    def pending(self) -> bool:
        return self.state == "PENDING"

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @property
    def ending(self) -> bool:
        """On its way out (its worker is gone or going): no longer counted as capacity."""
        return self.state in ENDING


def run(command: list[str], env: Mapping[str, str] | None = None) -> str:
    """The stdout of a Slurm command; SlurmError naming it with what it printed on failure."""
    if shutil.which(command[0], path=(env or os.environ).get("PATH")) is None:
        raise SlurmError(
            f"{command[0]} not found: run this on a Slurm login node, or put Slurm's commands "
            "on PATH"
        )
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{' '.join(command)} did not answer within {TIMEOUT} s") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise SlurmError(f"{' '.join(command)} failed: {said}")
    return done.stdout


def submit(script: Path, env: Mapping[str, str] | None = None) -> str:
    """sbatch the script; its job id."""
    out = run(["sbatch", "--parsable", str(script)], env).strip()
    job_id = out.split(";")[0]  # --parsable: "id" or "id;cluster"
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {out!r}, not a job id")
    return job_id


def jobs(job_name: str, env: Mapping[str, str] | None = None) -> list[SlurmJob]:
    """This user's jobs named `job_name` that Slurm still holds (pending, running,
    completing), oldest first."""
    out = run(["squeue", "--me", "--name", job_name, "--noheader", "-o", SQUEUE_FORMAT], env)
    found = []
    for line in out.splitlines():
        fields = line.split("|")
        if len(fields) == 5 and fields[0].strip().isdigit():
            found.append(SlurmJob(*(f.strip() for f in fields)))
    return sorted(found, key=lambda job: int(job.id))


def cancel(job_ids: list[str], env: Mapping[str, str] | None = None) -> None:
    """scancel the jobs: their worker gets SIGTERM (Celery's warm shutdown), then, after
    Slurm's KillWait, SIGKILL."""
    if job_ids:
        run(["scancel", *job_ids], env)
