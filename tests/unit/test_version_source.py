"""The version is written once, in package.json (CONTRIBUTING.md#the-version): hatch reads it
(hatch-nodejs-version) and writes the untracked _version.py at build and install time; the
sidebar's labextension/src/version.ts is written from it by labextension/write-version.js."""

from __future__ import annotations

import re
import subprocess

import pytest
from hatch_nodejs_version.version_source import NodeJSVersionSource
from packaging.version import Version

from ..support.package_version import npm_version, python_version
from ..support.services import REPO

# Tracked files that may hold the version's digits without being a copy of it
NOT_A_COPY = {
    "package.json": "the one source",
    "yarn.lock": "the versions of other packages",
    # OpenAPI: info.version is the API document's version, distinct from the implementation's
    "jupyter_bumps_remote/server_ext/openapi.yaml": "the HTTP API's own version",
}
# test code may use any version string for a fake package or server
TEST_CODE = ("tests/", "labextension/src/__tests__/")


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_no_tracked_file_but_package_json_spells_the_version():
    spellings = {npm_version(), python_version()}
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(s) for s in spellings) + r")(?![\w.])")
    copies = [
        name
        for name in tracked_files()
        if name not in NOT_A_COPY
        and not name.startswith(TEST_CODE)
        and (REPO / name).is_file()
        and pattern.search((REPO / name).read_bytes().decode("utf-8", "replace"))
    ]
    assert not copies, (
        f"{copies} spell the version {npm_version()}: package.json is its one source "
        "(CONTRIBUTING.md#the-version); read it from there"
    )


def test_the_generated_files_are_not_tracked():
    tracked = set(tracked_files())
    assert "jupyter_bumps_remote/_version.py" not in tracked
    assert "labextension/src/version.ts" not in tracked


def test_the_installed_package_reports_package_jsons_version():
    from jupyter_bumps_remote import __version__

    assert __version__ == python_version(), (
        f"jupyter_bumps_remote reports {__version__}, package.json says {npm_version()}: "
        "_version.py is written at install time; reinstall (pip install -e .)"
    )


@pytest.mark.parametrize("npm", ["0.1.0", "1.12.3", "0.2.0-a1", "0.2.0-b2", "0.2.0-rc1"])
def test_python_spells_a_version_as_the_sidebar_expects(npm):
    """The sidebar compares its version with the server's as Python spells it: for every form
    write-version.js accepts, that is hatch-nodejs-version's translation, normalized."""
    python = str(Version(NodeJSVersionSource.node_version_to_python(npm)))
    assert python == npm.replace("-", "")
