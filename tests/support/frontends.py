"""The front ends a browser test needs: Notebook 7, and the oldest JupyterLab the package
claims to support (package.json's @jupyterlab/application range, e.g. ^4.1.0 → 4.1).

Skipped where absent; where `./run test` installs them, BUMPS_REMOTE_TEST_REQUIRE names
them ("notebook", "oldest-jupyterlab") so that the test fails there instead of skipping.
"""

from __future__ import annotations

import json
import re

import pytest

from .libraries import REQUIRE_VARIABLE, require, required
from .services import REPO

OLDEST_JUPYTERLAB = "oldest-jupyterlab"


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


def claimed_oldest_jupyterlab() -> tuple[int, int]:
    """The oldest JupyterLab the sidebar claims to work in: its @jupyterlab/application
    range in package.json (the range JupyterLab checks when it loads the extension)."""
    dependencies = json.loads((REPO / "package.json").read_text())["dependencies"]
    return _major_minor(dependencies["@jupyterlab/application"].lstrip("^~>="))


def require_notebook7() -> str:
    """Notebook 7's version; skip where it is not installed (fail where required)."""
    notebook = require("notebook")
    if _major_minor(notebook.__version__)[0] != 7:
        _missing("notebook", f"notebook {notebook.__version__} is installed, not Notebook 7")
    return notebook.__version__


def require_oldest_jupyterlab() -> str:
    """JupyterLab's version, when it is the oldest claimed; skip otherwise (tests/ui covers
    the newest), fail where required."""
    import jupyterlab

    oldest = claimed_oldest_jupyterlab()
    if _major_minor(jupyterlab.__version__) != oldest:
        _missing(
            OLDEST_JUPYTERLAB,
            f"JupyterLab {jupyterlab.__version__} is installed, not the oldest claimed "
            f"({oldest[0]}.{oldest[1]}, package.json)",
        )
    return jupyterlab.__version__


def _missing(name: str, why: str):
    if name in required():
        pytest.fail(f"{name} is required in this environment ({REQUIRE_VARIABLE}): {why}")
    pytest.skip(why)
