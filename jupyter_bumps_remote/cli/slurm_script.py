"""The sbatch script of one Slurm worker job, and what it needs: pure functions, no Slurm.

One Slurm job runs one `bumps-remote worker` (docs/cluster.md). The script asks Slurm for
the CPUs and memory; at run time it splits the job's CPUs (`SLURM_CPUS_PER_TASK`) into the
worker's concurrency (fits at once) and each fit's threads, and names the worker after the
Slurm job so that `bumps-remote slurm list` can pair the two. The worker stops by itself
(`--lifetime`) a margin before the walltime, so that it never holds a fit when Slurm kills it:
it drains (`--drain-seconds`), its fits checkpointed and their jobs back on the queue, for
the next worker to resume.

The Redis URL (with its password) is never in the script: the script sources a settings file
only its owner may read (`settings_file_text`).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

# Slurm's job name is also the prefix of each worker's Celery name: letters, digits, . _ -
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# --mem as sbatch takes it: a number, optionally with a unit K, M, G or T
MEMORY = re.compile(r"[0-9]+[KMGT]?", re.IGNORECASE)
DEFAULT_JOB_NAME = "bumps-remote"
DEFAULT_TIME = "01:00:00"
DEFAULT_LIFETIME_MARGIN = 300.0
# The worker's drain on SIGTERM (its own, at --lifetime, or Slurm's): below Slurm's default
# KillWait of 30 s, after which Slurm kills what is left
DEFAULT_DRAIN_SECONDS = 20.0
# Thread pools a fit's numerical libraries start: each fit gets its share of the job's CPUs.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


class ScriptError(ValueError):
    """An option the script cannot be made from; the message names it and what to give."""


@dataclasses.dataclass(frozen=True)
class SbatchOptions:
    """What one worker job asks of Slurm and runs (docs/cluster.md#the-sbatch-options)."""

    python: str
    settings_file: Path
    log_dir: Path
    job_name: str = DEFAULT_JOB_NAME
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = DEFAULT_TIME
    cpus_per_task: int | None = None
    mem: str | None = None
    cpus_per_fit: int = 1
    lifetime_margin: float = DEFAULT_LIFETIME_MARGIN
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    directives: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()

    def check(self) -> None:
        """ScriptError naming the first option that is wrong."""
        if not JOB_NAME.fullmatch(self.job_name):
            raise ScriptError(
                f"--job-name {self.job_name!r}: use letters, digits, '.', '_' and '-' "
                "(up to 64; it starts each worker's name)"
            )
        for flag, value in (
            ("--partition", self.partition),
            ("--account", self.account),
            ("--qos", self.qos),
        ):
            if value is not None and (not value or _unsafe(value)):
                raise ScriptError(f"{flag} {value!r}: give one name, without spaces")
        if self.cpus_per_task is not None and self.cpus_per_task < 1:
            raise ScriptError(f"--cpus-per-task {self.cpus_per_task}: give 1 or more")
        if self.cpus_per_fit < 1:
            raise ScriptError(f"--cpus-per-fit {self.cpus_per_fit}: give 1 or more")
        if self.cpus_per_task is not None and self.cpus_per_fit > self.cpus_per_task:
            raise ScriptError(
                f"--cpus-per-fit {self.cpus_per_fit} is more than --cpus-per-task "
                f"{self.cpus_per_task}: a job must hold at least one fit"
            )
        if self.mem is not None and not MEMORY.fullmatch(self.mem):
            raise ScriptError(
                f"--mem {self.mem!r}: give a size as sbatch takes it, e.g. 4G or 500M"
            )
        if self.drain_seconds <= 0:
            raise ScriptError(f"--drain-seconds {self.drain_seconds:g}: give seconds above 0")
        if self.lifetime_margin < 0:
            raise ScriptError(f"--lifetime-margin {self.lifetime_margin:g}: give 0 or more")
        worker_lifetime(self.time, self.lifetime_margin)  # raises on a bad or short --time
        if _unsafe(str(self.log_dir)):
            raise ScriptError(
                f"--dir {str(self.log_dir.parent)!r}: sbatch's --output takes no spaces; "
                "give a directory whose path has none"
            )
        for directive in self.directives:
            if "\n" in directive or not directive.startswith("-"):
                raise ScriptError(
                    f"--sbatch-option {directive!r}: give one sbatch option, e.g. --constraint=avx2"
                )
        for line in self.prologue:
            if "\n" in line:
                raise ScriptError("--prologue: one shell line each (repeat the option)")

    @property
    def fits_per_job(self) -> int:
        """Fits one job runs at once, as its script will compute it (1 CPU without
        --cpus-per-task: the partition's default is not known here)."""
        return max(1, (self.cpus_per_task or 1) // self.cpus_per_fit)


def _unsafe(value: str) -> bool:
    return any(c.isspace() for c in value)


# -- the walltime --------------------------------------------------------------------------------

_TIME_FORMATS = (
    # sbatch --time: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
    # days-hours:minutes, days-hours:minutes:seconds
    (re.compile(r"(\d+)"), ("minutes",)),
    (re.compile(r"(\d+):(\d+)"), ("minutes", "seconds")),
    (re.compile(r"(\d+):(\d+):(\d+)"), ("hours", "minutes", "seconds")),
    (re.compile(r"(\d+)-(\d+)"), ("days", "hours")),
    (re.compile(r"(\d+)-(\d+):(\d+)"), ("days", "hours", "minutes")),
    (re.compile(r"(\d+)-(\d+):(\d+):(\d+)"), ("days", "hours", "minutes", "seconds")),
)
_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def walltime_seconds(text: str) -> int:
    """sbatch's --time in seconds; ScriptError for a form sbatch does not take (or none)."""
    for pattern, units in _TIME_FORMATS:
        match = pattern.fullmatch(text.strip())
        if match:
            return sum(int(n) * _SECONDS[u] for n, u in zip(match.groups(), units, strict=True))
    raise ScriptError(
        f"--time {text!r}: give a walltime as sbatch takes it, e.g. 90 (minutes), 02:00:00 "
        "or 1-12:00:00"
    )


def worker_lifetime(time: str, margin: float) -> int:
    """Seconds the worker runs before it stops by itself: the walltime less the margin it
    needs to stop (finish or hand back its fits) before Slurm kills it."""
    walltime = walltime_seconds(time)
    lifetime = int(walltime - margin)
    if lifetime <= 0:
        raise ScriptError(
            f"--time {time} ({walltime} s) leaves the worker no time before its "
            f"{margin:g} s margin: give a longer --time or a smaller --lifetime-margin"
        )
    return lifetime


# -- the names -----------------------------------------------------------------------------------


def worker_name_template(job_name: str) -> str:
    """The worker's Celery name as the script passes it: the shell fills in the Slurm job id,
    Celery the host (`%h`)."""
    return f"{job_name}-${{SLURM_JOB_ID}}@%h"


def slurm_job_of(worker_name: str, job_name: str) -> str | None:
    """The Slurm job id in a worker name the script made, or None for another worker."""
    match = re.fullmatch(re.escape(job_name) + r"-(\d+)@.*", worker_name)
    return match.group(1) if match else None


# -- the files -----------------------------------------------------------------------------------


def settings_file_text(settings: dict[str, str]) -> str:
    """The worker's settings (BUMPS_REMOTE_* variables, the Redis URL among them) as lines
    the script sources."""
    lines = ["# bumps-remote worker settings, sourced by its sbatch script: keep it mode 0600"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(settings.items())]
    return "\n".join(lines) + "\n"


def render(options: SbatchOptions) -> str:
    """The sbatch script of one worker job."""
    options.check()
    directives = [f"--job-name={options.job_name}"]
    for flag, value in (
        ("partition", options.partition),
        ("account", options.account),
        ("qos", options.qos),
    ):
        if value is not None:
            directives.append(f"--{flag}={value}")
    directives += ["--nodes=1", "--ntasks=1"]
    if options.cpus_per_task is not None:
        directives.append(f"--cpus-per-task={options.cpus_per_task}")
    if options.mem is not None:
        directives.append(f"--mem={options.mem}")
    directives.append(f"--time={options.time}")
    directives.append(f"--output={options.log_dir / '%x-%j.out'}")
    directives += options.directives

    settings = shlex.quote(str(options.settings_file))
    lifetime = worker_lifetime(options.time, options.lifetime_margin)
    lines = [
        "#!/bin/bash",
        "# One bumps-remote worker as a Slurm job, written by `bumps-remote slurm`",
        "# (docs/cluster.md#what-the-script-contains).",
        *(f"#SBATCH {d}" for d in directives),
        "set -eu",
        "",
        "# The worker's settings, the Redis URL among them: in a file only its owner reads,",
        "# not in this script (which Slurm keeps, and `scontrol write batch_script` shows).",
        f"if [ ! -r {settings} ]; then",
        f'  echo "bumps-remote slurm: cannot read "{settings}": run bumps-remote slurm submit '
        'again to write it" >&2',
        "  exit 1",
        "fi",
        f". {settings}",
    ]
    if options.prologue:
        lines += ["", "# --prologue", *options.prologue]
    lines += [
        "",
        "# Fits at once: the job's CPUs, --cpus-per-fit each (each fit's threads).",
        "cpus=${SLURM_CPUS_PER_TASK:-1}",
        f"cpus_per_fit={options.cpus_per_fit}",
        "concurrency=$(( cpus / cpus_per_fit ))",
        'if [ "$concurrency" -lt 1 ]; then concurrency=1; fi',
        *(f"export {name}=$cpus_per_fit" for name in THREAD_VARIABLES),
        "",
        f"# Stops by itself {options.lifetime_margin:g} s before the walltime ({options.time}).",
        f"exec {shlex.quote(options.python)} -m jupyter_bumps_remote.cli worker \\",
        '  --concurrency "$concurrency" \\',
        f'  --hostname "{worker_name_template(options.job_name)}" \\',
        f"  --lifetime {lifetime} \\",
        f"  --drain-seconds {options.drain_seconds:g}",
        "",
    ]
    return "\n".join(lines)
