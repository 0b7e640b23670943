"""No programmatic terminate (docs/reliability.md#6-cancel). Celery's revoke(terminate=True) and
control.terminate kill a pool process from outside: the fit loses its best point and the
job its cooperative end. Cancel goes through the job record only."""

from __future__ import annotations

import re
from pathlib import Path

import jupyter_bumps_remote

PACKAGE = Path(jupyter_bumps_remote.__file__).parent
FORBIDDEN = re.compile(r"\brevoke\s*\(|terminate\s*=\s*True|control\s*\.\s*terminate")


def test_nothing_in_the_package_terminates_a_task():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20  # the package itself, not an empty glob
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert found == []
