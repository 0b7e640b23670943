"""A fresh copy of the repository, as a clone would give it: the files git tracks, plus the
new ones not yet committed (so that a change is tested before its commit), nothing that
.gitignore leaves out (no .venv, node_modules or built labextension)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .services import REPO


def fresh_copy(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists():  # deleted in the work tree, not yet in a commit
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    return target
