"""The package's version as package.json writes it, the one place it is written
(CONTRIBUTING.md#the-version), and as Python spells it."""

from __future__ import annotations

import json

from .services import REPO

PACKAGE_JSON = REPO / "package.json"


def npm_version() -> str:
    """package.json's version: what the labextension's package.json and its listing show."""
    return json.loads(PACKAGE_JSON.read_text())["version"]


def python_version() -> str:
    """The same version as Python spells it (`__version__`, GET info, the wheel's name): the
    forms labextension/write-version.js accepts differ only by the dash of a pre-release."""
    return npm_version().replace("-", "")
