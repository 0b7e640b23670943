"""`%bumps_remote` and `%%bumps_remote`: send a fit from a notebook in one line."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..shared import transport
from .discovery import ServerNotFound
from .options import OptionsError, build_parser, parse


def parse_line(line: str):
    try:
        return parse(line, build_parser(resume=True))
    except OptionsError as e:
        raise UsageError(str(e)) from None


@magics_class
class BumpsRemoteMagics(Magics):
    @line_magic
    def bumps_remote(self, line: str):
        args, options = parse_line(line)
        if args.resume:
            return self._resume(args, options)
        if not args.expr:
            raise UsageError("give the problem: %bumps_remote problem --fitter dream")
        shell = self._shell()
        try:
            problem = shell.ev(args.expr)
        except NameError as e:
            raise UsageError(f"{e}: define the problem first, or check its name") from None
        except Exception as e:  # noqa: BLE001 - the user's expression: say what it raised
            raise UsageError(f"{args.expr!r} raised {type(e).__name__}: {e}") from None
        return self._submit(problem, args, options)

    @cell_magic("bumps_remote")
    def bumps_remote_cell(self, line: str, cell: str):
        args, options = parse_line(line)
        shell = self._shell()
        result = shell.run_cell(cell)
        if not result.success:
            return None  # the cell's own error is already shown
        if "problem" not in shell.user_ns:
            raise UsageError("the cell must define `problem` (a bumps FitProblem)")
        return self._submit(shell.user_ns["problem"], args, options)

    def _resume(self, args, options):
        """`%bumps_remote --resume ID --steps N`: job ID's DREAM fit, N steps further."""
        from IPython.display import display

        from .api import get_job
        from .client import RemoteError
        from .widget import in_notebook

        if args.expr:
            raise UsageError("--resume continues a job's own problem: give no problem")
        steps = options.pop("steps", None)
        if steps is None or options:
            raise UsageError("--resume ID takes --steps N (the steps to add) and no other option")
        try:
            job = get_job(args.resume).resume(
                steps,
                **({"name": args.name} if args.name else {}),
                **({"tags": args.tag} if args.tag else {}),
            )
        except (RemoteError, ServerNotFound) as e:
            raise UsageError(str(e)) from None
        if in_notebook():
            display(job)
        if args.wait:
            job.wait(progress=not in_notebook())
        return job

    def _shell(self) -> InteractiveShell:
        """The shell the magic runs in (IPython gives a registered magic one)."""
        if self.shell is None:
            raise UsageError("%bumps_remote runs inside IPython")
        return self.shell

    def _submit(self, problem, args, options):
        from IPython.display import display

        from .api import submit
        from .client import RemoteError
        from .widget import in_notebook

        try:
            job = submit(
                problem,
                args.fitter,
                name=args.name,
                tags=args.tag,
                seed=args.seed,
                wait_for_worker=args.wait_for_worker,
                **options,
            )
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
    return build_parser(resume=True).format_help()


BumpsRemoteMagics.bumps_remote.__doc__ = magic_help()
