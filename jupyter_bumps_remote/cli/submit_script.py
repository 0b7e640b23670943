"""`bumps-remote submit model.py [options] [-- model args]`: a bumps model script, fitted on
the workers, for users who don't work in a notebook.

The script is loaded as bumps itself loads it (`bumps.fitproblem.load_problem`), so
anything `bumps model.py` accepts works. The Jupyter server is found as from a kernel
(BUMPS_REMOTE_SERVER_URL + BUMPS_REMOTE_TOKEN, or the only running server), or given with
--server and --token.
"""

from __future__ import annotations

import sys

from ..kernel.options import OptionsError, build_parser, parse


def submit_parser():
    parser = build_parser(prog="bumps-remote submit", target="the bumps model script")
    parser.add_argument("--server", help="the Jupyter server URL (default: discover it)")
    parser.add_argument("--token", help="the Jupyter server token")
    parser.add_argument("--help", "-h", action="store_true", help="show this help")
    return parser


def run_submit(argv: list[str]) -> int:
    model_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, model_args = argv[:cut], argv[cut + 1 :]
    parser = submit_parser()
    if "--help" in argv or "-h" in argv:
        print(parser.format_help())
        return 0
    try:
        args, options = parse(argv, parser)
    except OptionsError as e:
        return _fail(str(e))
    if not args.expr:
        return _fail("give the model script: bumps-remote submit model.py --fitter lm")

    from bumps.fitproblem import load_problem

    from .. import kernel
    from ..kernel.client import RemoteError
    from ..kernel.discovery import ServerNotFound
    from ..shared.transport import PayloadError

    try:
        problem = load_problem(args.expr, args=model_args)
    except FileNotFoundError:
        return _fail(f"no such model script: {args.expr}")
    except Exception as e:  # noqa: BLE001 - the user's script raised: say what, and where
        return _fail(f"{args.expr} raised {type(e).__name__}: {e}")
    try:
        if args.server:
            kernel.connect(args.server, args.token)
        job = kernel.submit(
            problem,
            args.fitter,
            name=args.name or args.expr,
            tags=args.tag,
            seed=args.seed,
            wait_for_worker=args.wait_for_worker,
            **options,
        )
        print(f"submitted {job.id} ({args.fitter}); follow it with get_job({job.id!r})")
        if not args.wait:
            return 0
        job.wait(progress=True)
        if job.status == "failed":
            return _fail(f"the fit failed: {(job.error or {}).get('message')}")
        print(repr(job.result()))
    except (RemoteError, ServerNotFound, PayloadError, TypeError) as e:
        return _fail(str(e))
    return 0


def _fail(message: str) -> int:
    print(f"bumps-remote submit: {message}", file=sys.stderr)
    return 2
