"""`%bumps_remote --resume ID --steps N`: the magic's words for job.resume(steps=N)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
from IPython.core.error import UsageError

from jupyter_bumps_remote.kernel.magic import BumpsRemoteMagics, parse_line
from jupyter_bumps_remote.kernel.options import OptionsError, build_parser, parse


def test_resume_takes_a_job_id_and_the_steps_to_add():
    args, options = parse_line("--resume 0123abcd --steps 50 --name more")
    assert args.resume == "0123abcd" and args.name == "more"
    assert options == {"steps": 50}


def test_resume_needs_steps_and_nothing_else():
    # the line magic as IPython calls it (its decorator hides the signature from pyright)
    magic = cast(Callable[[str], object], BumpsRemoteMagics(shell=None).bumps_remote)
    with pytest.raises(UsageError, match="--steps N"):
        magic("--resume 0123abcd")
    with pytest.raises(UsageError, match="no other option"):
        magic("--resume 0123abcd --steps 5 --max-time 3")
    with pytest.raises(UsageError, match="give no problem"):
        magic("problem --resume 0123abcd --steps 5")


def test_the_submit_command_has_no_resume():
    parser = build_parser(prog="bumps-remote submit", target="the bumps model script")
    with pytest.raises(OptionsError, match="--resume"):
        parse(["model.py", "--resume", "0123abcd"], parser)
