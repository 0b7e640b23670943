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
        "celery_args",
        nargs=argparse.REMAINDER,
        help="further arguments for `celery worker`, after --",
    )

    submit = commands.add_parser(
        "submit", add_help=False,
        help="fit a bumps model script on the workers (options as %%bumps_remote)",
    )  # fmt: skip
    submit.add_argument("rest", nargs=argparse.REMAINDER)

    args = parser.parse_args(argv)
    if args.command == "worker":
        return run_worker(args)
    if args.command == "submit":
        from .submit_script import run_submit

        return run_submit(args.rest)
    return 2


def run_worker(args) -> int:
    from . import versions
    from .worker import make_app
    from .worker.settings import SettingsError, WorkerSettings
    from .worker.startup_checks import limit_warnings, redis_problem

    try:
        settings = WorkerSettings.from_env(redis_url=args.redis_url)
    except SettingsError as e:
        print(f"bumps-remote worker: {e}", file=sys.stderr)
        return 2
    problem = redis_problem(settings)
    if problem:
        print(f"bumps-remote worker: not starting: {problem}", file=sys.stderr)
        return 2
    for warning in limit_warnings(settings):
        print(f"bumps-remote worker: warning: {warning}", file=sys.stderr)
    app = make_app(settings)
    queue = versions.queue_name(settings.queue_prefix, versions.environment())
    argv = [
        "worker",
        "--loglevel",
        args.loglevel,
        "--queues",
        queue,
        "--hostname",
        args.hostname or f"bumps-{os.getpid()}@%h",
    ]
    if args.concurrency:
        argv += ["--concurrency", str(args.concurrency)]
    extra = [a for a in args.celery_args if a != "--"]
    app.worker_main(argv + extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
