"""Which directories the hub tests' launcher covers (tests/support/hub_user_server.py): the
first closed directory above each path the users' servers need, and nothing where the way
is open."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from .hub import covers


@pytest.fixture
def open_dir():
    """A directory anyone may pass, under /tmp (pytest's own temp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_path_under_a_closed_directory_is_bound_back_into_its_cover(open_dir):
    closed = open_dir / "home"
    needed = closed / "pyenv" / "versions" / "3.11"
    needed.mkdir(parents=True)
    closed.chmod(0o700)
    assert covers([str(needed), str(needed)]) == ["--cover", f"{closed}={needed}"]


def test_nothing_is_covered_where_every_directory_can_be_passed(open_dir):
    needed = open_dir / "venv"
    needed.mkdir()
    assert covers([str(needed)]) == []
