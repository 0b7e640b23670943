"""`%bumps_remote` and `%%bumps_remote`: send a fit from a notebook in one line."""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from .. import jobs, transport
from .discovery import ServerNotFound

COMMON = {
    "name": "a name for the job (default: '<fitter> fit')",
    "tag": "a tag for the job; repeat for several",
    "seed": "random seed (default: a new one, always recorded)",
    "parallel": "processes evaluating the population (de, dream); 0 = all cores",
    "max-time": "stop the fit after this many seconds, keeping its best point",
    "wait": "block until the fit ends (prints progress outside notebooks)",
}


def fitter_settings() -> dict[str, tuple[object, set[str]]]:
    """Every fitter option bumps knows: its default (of the first fitter) and its fitters."""
    settings: dict[str, tuple[object, set[str]]] = {}
    for info in jobs.fitters().values():
        for name, default in info.settings:
            settings.setdefault(name, (default, set()))[1].add(info.id)
    return settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="%bumps_remote",
        description="Fit a bumps problem on the remote workers; returns a RemoteJob at once.",
        epilog="Cell form: %%bumps_remote [options] runs the cell, then fits its `problem`.",
        add_help=False,
        exit_on_error=False,
    )
    parser.add_argument("expr", nargs="?", help="the problem (line form)")
    fitter_ids = sorted(jobs.fitters())
    parser.add_argument("--fitter", "-f", default="amoeba", choices=fitter_ids,
                        help="the fitter (default amoeba)")  # fmt: skip
    for name, (default, used_by) in sorted(fitter_settings().items()):
        used = ", ".join(sorted(used_by))
        parser.add_argument(
            f"--{name}", dest=f"opt_{name}", metavar="VALUE",
            help=f"{used} option (default {default})",
        )  # fmt: skip
    parser.add_argument("--name", help=COMMON["name"])
    parser.add_argument("--tag", action="append", help=COMMON["tag"])
    parser.add_argument("--seed", type=int, help=COMMON["seed"])
    parser.add_argument("--parallel", type=int, help=COMMON["parallel"])
    parser.add_argument("--max-time", type=float, dest="max_time", help=COMMON["max-time"])
    parser.add_argument("--wait", action="store_true", help=COMMON["wait"])
    return parser


def parse(line: str) -> tuple[argparse.Namespace, dict]:
    import shlex

    from bumps import options as bumps_options

    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(shlex.split(line))
    except (argparse.ArgumentError, ValueError) as e:
        raise UsageError(f"{e}\n{_allowed(None)}") from None
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r}\n{_allowed(args.fitter)}")
    options = {}
    for name in fitter_settings():
        raw = getattr(args, f"opt_{name}")
        if raw is None:
            continue
        parse_value = bumps_options.FIT_FIELDS.get(name, (None, str))[1]
        try:
            options[name] = parse_value(raw)
        except ValueError as e:
            raise UsageError(f"--{name} {raw}: {e}") from None
    if args.parallel is not None:
        options["parallel"] = args.parallel
    if args.max_time is not None:
        options["max_time"] = args.max_time
    try:
        jobs.validate_options(args.fitter, options)
    except jobs.JobInputError as e:
        raise UsageError(f"{e.message}\n{_allowed(args.fitter)}") from None
    return args, options


def _allowed(fitter: str | None) -> str:
    if fitter is None:
        return "Options: --fitter " + "|".join(sorted(jobs.fitters())) + "; see %bumps_remote?"
    settings = [name for name, _ in jobs.fitters()[fitter].settings]
    common = ["name", "tag", "seed", "parallel", "max-time", "wait"]
    return f"{fitter} options: " + " ".join(f"--{n}" for n in settings + common)


@magics_class
class BumpsRemoteMagics(Magics):
    @line_magic
    def bumps_remote(self, line: str):
        args, options = parse(line)
        if not args.expr:
            raise UsageError("give the problem: %bumps_remote problem --fitter dream")
        try:
            problem = self.shell.ev(args.expr)
        except NameError as e:
            raise UsageError(f"{e}: define the problem first, or check its name") from None
        except Exception as e:  # noqa: BLE001 - the user's expression: say what it raised
            raise UsageError(f"{args.expr!r} raised {type(e).__name__}: {e}") from None
        return self._submit(problem, args, options)

    @cell_magic("bumps_remote")
    def bumps_remote_cell(self, line: str, cell: str):
        args, options = parse(line)
        result = self.shell.run_cell(cell)
        if not result.success:
            return None  # the cell's own error is already shown
        if "problem" not in self.shell.user_ns:
            raise UsageError("the cell must define `problem` (a bumps FitProblem)")
        return self._submit(self.shell.user_ns["problem"], args, options)

    def _submit(self, problem, args, options):
        from IPython.display import display

        from .api import submit
        from .client import RemoteError
        from .widget import in_notebook

        try:
            job = submit(problem, args.fitter, name=args.name, tags=args.tag, seed=args.seed,
                         **options)  # fmt: skip
        except TypeError as e:
            raise UsageError(str(e)) from None
        except transport.PayloadError as e:
            raise UsageError(f"the problem cannot be fitted: {e}") from None
        except (RemoteError, ServerNotFound) as e:
            raise UsageError(str(e)) from None
        if in_notebook():
            display(job)  # the live panel now, even when the job is assigned to a name
        if args.wait:
            job.wait(progress=not in_notebook())
            panel = getattr(job, "_panel", None)
            if panel is not None:
                panel.join(60)
        return job


def magic_help() -> str:
    return build_parser().format_help()


BumpsRemoteMagics.bumps_remote.__doc__ = magic_help()
