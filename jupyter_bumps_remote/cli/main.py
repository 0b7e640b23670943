"""The `bumps-remote` command."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bumps-remote", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    worker = commands.add_parser("worker", help="run a Celery worker that fits bumps problems")
    worker.add_argument("--redis-url", help="broker and job store (env BUMPS_REMOTE_REDIS_URL)")
    worker.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=None,
        help="fits run at once (default: number of cores)",
    )
    worker.add_argument("--loglevel", "-l", default="INFO")
    worker.add_argument("--hostname", "-n", default=None, help="Celery node name")
    worker.add_argument(
        "--lifetime",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds, as on SIGTERM (a drain); "
        "under Slurm, a few minutes short of the walltime",
    )
    worker.add_argument(
        "--drain-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="on SIGTERM or at the end of --lifetime, checkpoint the running fits, requeue "
        "their jobs and exit within this long (env BUMPS_REMOTE_DRAIN_SECONDS, default 20; "
        "below Slurm's KillWait, 30 s)",
    )
    worker.add_argument(
        "celery_args",
        nargs=argparse.REMAINDER,
        help="further arguments for `celery worker`, after --",
    )

    submit = commands.add_parser(
        "submit",
        add_help=False,
        help="fit a bumps model script on the workers (options as %%bumps_remote)",
    )
    submit.add_argument("rest", nargs=argparse.REMAINDER)

    from .redis_user import add_parser as add_redis_user_parser
    from .slurm import add_parser as add_slurm_parser

    add_slurm_parser(commands)
    add_redis_user_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "worker":
        return run_worker(args)
    if args.command == "submit":
        from .submit_script import run_submit

        return run_submit(args.rest)
    if args.command == "slurm":
        from .slurm import run as run_slurm

        return run_slurm(args)
    if args.command == "redis-user":
        from .redis_user import run as run_redis_user

        return run_redis_user(args)
    return 2


def run_worker(args) -> int:
    from ..shared import versions
    from ..shared.settings import SettingsError, WorkerSettings
    from ..worker import make_app
    from ..worker.main.startup_checks import redis_problem, startup_warnings

    if args.lifetime is not None and args.lifetime <= 0:
        print(
            f"bumps-remote worker: --lifetime {args.lifetime:g}: give seconds above 0",
            file=sys.stderr,
        )
        return 2
    try:
        settings = WorkerSettings.from_env(
            redis_url=args.redis_url, drain_seconds=args.drain_seconds
        )
    except SettingsError as e:
        print(f"bumps-remote worker: {e}", file=sys.stderr)
        return 2
    problem = redis_problem(settings)
    if problem:
        print(f"bumps-remote worker: not starting: {problem}", file=sys.stderr)
        return 2
    for warning in startup_warnings(settings):  # not again when Celery's logging starts
        print(f"bumps-remote worker: warning: {warning}", file=sys.stderr)
    app = make_app(settings)
    env = versions.served_environment()
    # its job queues and their session builds' queues (versions.consumed_queues)
    queues = versions.consumed_queues(settings.queue_prefix, env)
    print(serving(env, queues), flush=True)
    argv = [
        "worker",
        "--loglevel",
        args.loglevel,
        "--queues",
        ",".join(queues),
        "--hostname",
        args.hostname or f"bumps-{os.getpid()}@%h",
    ]
    if args.concurrency:
        argv += ["--concurrency", str(args.concurrency)]
    extra = [a for a in args.celery_args if a != "--"]
    if args.lifetime is not None:
        from .lifetime import stop_after

        stop_after(args.lifetime)
    app.worker_main(argv + extra)
    return 0


def serving(env: dict, queues: list[str]) -> str:
    """What a worker serves, printed at its start: the versions a job must match."""
    from ..shared import versions

    libraries = versions.libraries_of(env)
    lines = [
        "bumps-remote worker: serves jobs made with "
        f"Python {versions.minor(env['python'])} (here {env['python']}), "
        f"bumps {env['bumps']}, numpy {versions.minor(env['numpy'])} (here {env['numpy']})",
        "  model libraries: "
        + (", ".join(f"{n} {v}" for n, v in libraries.items()) if libraries else "none")
        + " (jobs using any of them, or none)",
        "  queues: " + ", ".join(queues),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
