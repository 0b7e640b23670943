"""`bumps-remote slurm`: workers as Slurm jobs (docs/cluster.md).

    bumps-remote slurm script  [sbatch options]        write the worker job's script, print it
    bumps-remote slurm submit  [sbatch options] [-n N]  submit N worker jobs
    bumps-remote slurm list                             Slurm jobs and the workers they run
    bumps-remote slurm cancel  JOBID... | --all         cancel worker jobs
    bumps-remote slurm adapt   --min 0 --max 4 [sbatch options]
                                                        as many jobs as the queued fits need

Files, under --dir (default ~/.bumps-remote/slurm, on a filesystem the compute nodes see):
`worker.sbatch` (the script), `worker.env` (the worker's settings, the Redis URL among them,
mode 0600, sourced by the script), `logs/` (each job's output).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from pathlib import Path

from . import slurm_client
from .slurm_client import SlurmError
from .slurm_script import (
    DEFAULT_DRAIN_SECONDS,
    DEFAULT_JOB_NAME,
    DEFAULT_LIFETIME_MARGIN,
    DEFAULT_TIME,
    SbatchOptions,
    ScriptError,
    render,
    settings_file_text,
)

DEFAULT_DIR = Path("~/.bumps-remote/slurm")
SCRIPT_NAME = "worker.sbatch"
SETTINGS_NAME = "worker.env"
PROG = "bumps-remote slurm"


def add_parser(commands) -> None:
    slurm = commands.add_parser(
        "slurm", help="run workers as Slurm jobs: script, submit, list, cancel, adapt"
    )
    actions = slurm.add_subparsers(dest="slurm_command", required=True)

    script = actions.add_parser("script", help="write the worker job's sbatch script and print it")
    _job_options(script)
    _sbatch_options(script)

    submit = actions.add_parser("submit", help="submit worker jobs")
    _job_options(submit)
    _sbatch_options(submit)
    submit.add_argument("-n", "--count", type=int, default=1, help="jobs to submit (default 1)")
    submit.add_argument(
        "--adapt",
        nargs=2,
        type=int,
        metavar=("MIN", "MAX"),
        help="instead: keep between MIN and MAX jobs, as many as the queued fits need "
        "(the same as `adapt --min MIN --max MAX`)",
    )
    _adapt_options(submit)

    listing = actions.add_parser("list", help="the worker jobs and the workers they run")
    _job_options(listing)

    cancel = actions.add_parser("cancel", help="cancel worker jobs (scancel)")
    _job_options(cancel)
    cancel.add_argument("job_ids", nargs="*", metavar="JOBID", help="Slurm job ids")
    cancel.add_argument("--all", action="store_true", help="every worker job of yours")

    adapt = actions.add_parser(
        "adapt", help="keep as many worker jobs as the queued fits need, within bounds"
    )
    _job_options(adapt)
    _sbatch_options(adapt)
    adapt.add_argument("--min", type=int, default=0, dest="minimum", help="jobs kept (0)")
    adapt.add_argument("--max", type=int, required=True, dest="maximum", help="jobs at most")
    _adapt_options(adapt)


def _job_options(parser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"where the script, the settings file and the logs go (default {DEFAULT_DIR})",
    )
    parser.add_argument(
        "--job-name",
        default=DEFAULT_JOB_NAME,
        help=f"Slurm job name, also each worker's name prefix (default {DEFAULT_JOB_NAME})",
    )
    parser.add_argument("--redis-url", help="broker and job store (env BUMPS_REMOTE_REDIS_URL)")


def _sbatch_options(parser) -> None:
    group = parser.add_argument_group("sbatch options (docs/cluster.md#the-sbatch-options)")
    group.add_argument("-p", "--partition")
    group.add_argument("-A", "--account")
    group.add_argument("-q", "--qos")
    group.add_argument(
        "-t", "--time", default=DEFAULT_TIME, help=f"walltime (default {DEFAULT_TIME})"
    )
    group.add_argument(
        "-c", "--cpus-per-task", type=int, help="CPUs of one job (default: the partition's)"
    )
    group.add_argument("--mem", help="memory of one job, e.g. 8G (default: the partition's)")
    group.add_argument(
        "--cpus-per-fit",
        type=int,
        default=1,
        help="CPUs (threads) of each fit: a job runs cpus-per-task / cpus-per-fit fits at once",
    )
    group.add_argument(
        "--lifetime-margin",
        type=float,
        default=DEFAULT_LIFETIME_MARGIN,
        metavar="SECONDS",
        help="the worker stops this long before the walltime "
        f"(default {DEFAULT_LIFETIME_MARGIN:g})",
    )
    group.add_argument(
        "--drain-seconds",
        type=float,
        default=DEFAULT_DRAIN_SECONDS,
        metavar="SECONDS",
        help="on SIGTERM (the walltime, scancel, the end of its lifetime) the worker "
        "checkpoints its fits, requeues them and exits within this long; keep it below "
        f"Slurm's KillWait, 30 s by default (default {DEFAULT_DRAIN_SECONDS:g})",
    )
    group.add_argument(
        "--sbatch-option",
        action="append",
        default=[],
        dest="directives",
        metavar="OPTION",
        help="another #SBATCH line, e.g. --constraint=avx2 (repeatable)",
    )
    group.add_argument(
        "--prologue",
        action="append",
        default=[],
        metavar="LINE",
        help="a shell line run before the worker, e.g. 'module load python' (repeatable)",
    )
    group.add_argument(
        "--python",
        default=sys.executable,
        help="the Python that runs the worker on the nodes (default: this one)",
    )


def _adapt_options(parser) -> None:
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds between looks (default 10)"
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=60.0,
        help="a worker idle this long may be retired (default 60)",
    )


def run(args) -> int:
    try:
        if args.slurm_command == "script":
            print(write_files(args), end="")
            return 0
        if args.slurm_command == "submit":
            if args.adapt:
                args.minimum, args.maximum = args.adapt
                return run_adapt(args)
            return run_submit(args)
        if args.slurm_command == "list":
            return run_list(args)
        if args.slurm_command == "cancel":
            return run_cancel(args)
        if args.slurm_command == "adapt":
            return run_adapt(args)
    except (ScriptError, SlurmError, SettingsProblem) as e:
        print(f"{PROG} {args.slurm_command}: {e}", file=sys.stderr)
        return 2
    return 2


class SettingsProblem(ValueError):
    pass


# -- files ---------------------------------------------------------------------------------------


def worker_variables() -> set[str]:
    """The environment variables a worker reads its settings from."""
    from ..shared.settings import ENV_PREFIX, WorkerSettings

    return {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(WorkerSettings)}


def worker_settings(args) -> dict[str, str]:
    """The worker's settings: this shell's BUMPS_REMOTE_* worker variables, with the Redis
    URL from --redis-url or the environment (required: 127.0.0.1 is no use on a node)."""
    from ..shared.settings import ENV_PREFIX

    url_variable = ENV_PREFIX + "REDIS_URL"
    found = {name: os.environ[name] for name in worker_variables() if os.environ.get(name)}
    url = args.redis_url or found.get(url_variable)
    if not url:
        raise SettingsProblem(
            f"give --redis-url or set {url_variable}: the Redis the Jupyter server uses, "
            "as the compute nodes reach it"
        )
    found[url_variable] = url
    return found


def sbatch_options(args) -> SbatchOptions:
    directory = args.dir.expanduser().absolute()
    return SbatchOptions(
        python=args.python,
        settings_file=directory / SETTINGS_NAME,
        log_dir=directory / "logs",
        job_name=args.job_name,
        partition=args.partition,
        account=args.account,
        qos=args.qos,
        time=args.time,
        cpus_per_task=args.cpus_per_task,
        mem=args.mem,
        cpus_per_fit=args.cpus_per_fit,
        lifetime_margin=args.lifetime_margin,
        drain_seconds=args.drain_seconds,
        directives=tuple(args.directives),
        prologue=tuple(args.prologue),
    )


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # an older file may have had a wider mode
        f.write(text)


def write_files(args) -> str:
    """Write the settings file, the script and the logs directory; the script's text."""
    options = sbatch_options(args)
    text = render(options)  # checks every option before anything is written
    settings = worker_settings(args)
    directory = options.settings_file.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    options.log_dir.mkdir(mode=0o700, exist_ok=True)
    write_private(options.settings_file, settings_file_text(settings))
    (directory / SCRIPT_NAME).write_text(text)
    return text


def sbatch_environment() -> dict[str, str]:
    """The environment sbatch runs in, and passes on to the job: this one without the
    worker's settings, which the job reads from its settings file (Slurm keeps a batch job's
    environment with the job; the Redis password must not be there), and without the
    SLURM_* variables of a job this command may itself run in (`adapt` as a Slurm job: its
    SLURM_CPUS_PER_TASK would reach a worker job that asked for no CPU count)."""
    hidden = worker_variables()
    return {
        name: value
        for name, value in os.environ.items()
        if name not in hidden and (not name.startswith("SLURM_") or name == "SLURM_CONF")
    }


# -- commands ------------------------------------------------------------------------------------


def run_submit(args) -> int:
    if args.count < 1:
        raise ScriptError(f"--count {args.count}: give 1 or more")
    write_files(args)
    script = args.dir.expanduser().absolute() / SCRIPT_NAME
    env = sbatch_environment()
    for _ in range(args.count):
        job_id = slurm_client.submit(script, env)
        print(f"submitted Slurm job {job_id} (worker {args.job_name}-{job_id}@<node>)")
    return 0


def run_cancel(args) -> int:
    if bool(args.job_ids) == bool(args.all):
        raise ScriptError("give the Slurm job ids to cancel, or --all (not both)")
    ours = {job.id for job in slurm_client.jobs(args.job_name)}
    chosen = sorted(ours, key=int) if args.all else args.job_ids
    strangers = [i for i in chosen if i not in ours]
    if strangers:
        raise ScriptError(
            f"not worker jobs of yours named {args.job_name}: {', '.join(strangers)} "
            f"({PROG} list shows them)"
        )
    slurm_client.cancel(chosen)
    for job_id in chosen:
        print(f"cancelled Slurm job {job_id}")
    if not chosen:
        print(f"no worker jobs named {args.job_name}")
    return 0


def _redis(args):
    """(settings, store, redis client) of the Redis the workers use."""
    import redis

    from ..shared.settings import SettingsError, WorkerSettings
    from ..store import JobStore

    url = args.redis_url or os.environ.get("BUMPS_REMOTE_REDIS_URL")
    if not url:
        raise SettingsProblem("give --redis-url or set BUMPS_REMOTE_REDIS_URL")
    try:
        settings = WorkerSettings.from_env(redis_url=url)
    except SettingsError as e:
        raise SettingsProblem(str(e)) from None
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    return settings, JobStore(client, **settings.store_settings()), client


def run_list(args) -> int:
    from ..worker import make_app
    from .slurm_workers import held_fits, pair, strays

    jobs = slurm_client.jobs(args.job_name)
    settings, store, _ = _redis(args)
    workers = store.workers()
    paired = pair(jobs, workers, args.job_name)
    names = [p.name for p in paired if p.name]
    held = held_fits(make_app(settings), names) if names else {}
    rows = [("SLURM JOB", "STATE", "TIME", "LIMIT", "NODE (REASON)", "WORKER", "FITS")]
    for p in paired:
        fits = ""
        if p.name:
            fits = f"{held[p.name]} of {p.concurrency}" if p.name in held else "?"
        rows.append(
            (p.job.id, p.job.state, p.job.elapsed, p.job.limit, p.job.where, p.name or "-", fits)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for worker in strays(jobs, workers, args.job_name):
        print(f"worker {worker['name']} advertises itself but its Slurm job is not yours or gone")
    return 0


def run_adapt(args) -> int:
    from ..shared import versions
    from ..worker import make_app
    from .adapt import Adapter, Bounds, slurm_cluster, timestamped

    if not 0 <= args.minimum <= args.maximum or args.maximum < 1:
        raise ScriptError(
            f"--min {args.minimum} --max {args.maximum}: give 0 <= MIN <= MAX and MAX >= 1"
        )
    if args.interval <= 0 or args.idle_seconds < 0:
        raise ScriptError("--interval must be above 0 and --idle-seconds 0 or more")
    options = sbatch_options(args)
    write_files(args)
    settings, store, client = _redis(args)
    # the build queues too: a session file asked for while no worker runs is demand, which
    # starts a worker as a fit does (docs/design.md#session-files)
    queues = versions.consumed_queues(settings.queue_prefix, versions.served_environment())
    cluster = slurm_cluster(
        args.dir.expanduser().absolute() / SCRIPT_NAME,
        args.job_name,
        sbatch_environment(),
        client,
        store,
        make_app(settings),
        queues,
    )
    bounds = Bounds(args.minimum, args.maximum, options.fits_per_job, args.idle_seconds)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    timestamped(
        f"between {args.minimum} and {args.maximum} jobs of {options.fits_per_job} fits, "
        f"for the queues {', '.join(queues)}"
    )
    Adapter(cluster, bounds, timestamped).run(args.interval, stop)
    timestamped(f"stopped; the jobs run on (`{PROG} cancel --all` ends them)")
    return 0
