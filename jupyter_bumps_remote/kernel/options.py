"""The fit options of `%bumps_remote` and `bumps-remote submit`, parsed once for both."""

from __future__ import annotations

import argparse
import shlex

from ..shared import jobs


class OptionsError(ValueError):
    """A wrong option; the message lists the allowed ones."""


COMMON = {
    "name": "a name for the job (default: '<fitter> fit')",
    "tag": "a tag for the job; repeat for several",
    "seed": "random seed (default: a new one, always recorded)",
    "parallel": "processes evaluating the population (de, dream); 0 = all cores",
    "max-time": "stop the fit after this many seconds, keeping its best point",
    "wait": "block until the fit ends (prints progress outside notebooks)",
    "wait-for-worker": "queue the job even if no live worker has this kernel's versions",
}


def fitter_settings() -> dict[str, tuple[object, set[str]]]:
    """Every fitter option bumps knows: its default (of the first fitter) and its fitters."""
    settings: dict[str, tuple[object, set[str]]] = {}
    for info in jobs.fitters().values():
        for name, default in info.settings:
            settings.setdefault(name, (default, set()))[1].add(info.id)
    return settings


def build_parser(
    prog: str = "%bumps_remote", target: str = "the problem (line form)", resume: bool = False
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fit a bumps problem on the remote workers; returns a RemoteJob at once.",
        epilog="Cell form: %%bumps_remote [options] runs the cell, then fits its `problem`.",
        add_help=False,
        exit_on_error=False,
    )
    parser.add_argument("expr", nargs="?", help=target)
    fitter_ids = sorted(jobs.fitters())
    parser.add_argument(
        "--fitter", "-f", default="amoeba", choices=fitter_ids, help="the fitter (default amoeba)"
    )
    for name, (default, used_by) in sorted(fitter_settings().items()):
        used = ", ".join(sorted(used_by))
        parser.add_argument(
            f"--{name}",
            dest=f"opt_{name}",
            metavar="VALUE",
            help=f"{used} option (default {default})",
        )
    parser.add_argument("--name", help=COMMON["name"])
    parser.add_argument("--tag", action="append", help=COMMON["tag"])
    parser.add_argument("--seed", type=int, help=COMMON["seed"])
    parser.add_argument("--parallel", type=int, help=COMMON["parallel"])
    parser.add_argument("--max-time", type=float, dest="max_time", help=COMMON["max-time"])
    parser.add_argument("--wait", action="store_true", help=COMMON["wait"])
    parser.add_argument(
        "--wait-for-worker",
        action="store_true",
        dest="wait_for_worker",
        help=COMMON["wait-for-worker"],
    )
    if resume:
        parser.add_argument(
            "--resume",
            metavar="JOB_ID",
            help="continue this succeeded or cancelled DREAM fit for --steps more steps, "
            "from its last checkpoint (no problem needed)",
        )
    return parser


def split_words(line: str) -> list[str]:
    """Shell words, a trailing `# comment` left out as a shell leaves it (a magic line gets
    its comment: `job = %bumps_remote problem --wait  # note`). As in a shell, `#` starts a
    comment only at the start of a word, outside quotes and not escaped: `--name "run #2"`
    and `--name run#2` keep theirs (shlex's `comments=True` would cut the latter)."""
    quote, previous, escaped = None, " ", False
    for i, char in enumerate(line):
        if escaped:
            escaped, char = False, "x"  # an escaped character is part of a word
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and previous.isspace():
            return shlex.split(line[:i])
        previous = char
    return shlex.split(line)


def parse(
    line: str | list[str], parser: argparse.ArgumentParser | None = None
) -> tuple[argparse.Namespace, dict]:
    """Parse options; returns the arguments and the fitter options, checked as the server
    checks them. Raises OptionsError naming the wrong option and listing the allowed ones."""
    from ..shared.bumps_compat import option_parsers

    bumps_options = option_parsers()
    parser = parser or build_parser()
    words = split_words(line) if isinstance(line, str) else line
    try:
        args, unknown = parser.parse_known_args(words)
    except (argparse.ArgumentError, ValueError) as e:
        raise OptionsError(f"{e}\n{_allowed(None)}") from None
    if unknown:
        raise OptionsError(f"unknown option {unknown[0]!r}\n{_allowed(args.fitter)}")
    options = {}
    for name in fitter_settings():
        raw = getattr(args, f"opt_{name}")
        if raw is None:
            continue
        parse_value = bumps_options.FIT_FIELDS.get(name, (None, str))[1]
        try:
            options[name] = parse_value(raw)
        except ValueError as e:
            raise OptionsError(f"--{name} {raw}: {e}") from None
    if args.parallel is not None:
        options["parallel"] = args.parallel
    if args.max_time is not None:
        options["max_time"] = args.max_time
    try:
        jobs.validate_options(args.fitter, options)
    except jobs.JobInputError as e:
        raise OptionsError(f"{e.message}\n{_allowed(args.fitter)}") from None
    return args, options


def _allowed(fitter: str | None) -> str:
    if fitter is None:
        return "Options: --fitter " + "|".join(sorted(jobs.fitters())) + "; see %bumps_remote?"
    settings = [name for name, _ in jobs.fitters()[fitter].settings]
    common = ["name", "tag", "seed", "parallel", "max-time", "wait", "wait-for-worker"]
    return f"{fitter} options: " + " ".join(f"--{n}" for n in settings + common)
