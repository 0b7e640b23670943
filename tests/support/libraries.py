"""Model libraries (refl1d, sasmodels) a test needs: skipped where absent, unless required.

`./run test` sets BUMPS_REMOTE_TEST_REQUIRE to the libraries each of its environments
installs (comma-separated), so a test that needs one of them fails there instead of
skipping in silence.
"""

from __future__ import annotations

import importlib
import os

import pytest

REQUIRE_VARIABLE = "BUMPS_REMOTE_TEST_REQUIRE"


def required() -> set[str]:
    return {name.strip() for name in os.environ.get(REQUIRE_VARIABLE, "").split(",") if name}


def require(name: str):
    """Import and return the library `name`, or skip (fail, where it is required)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        if name in required():
            pytest.fail(f"{name} is required in this environment ({REQUIRE_VARIABLE}): {e}")
        pytest.skip(f"{name} is not installed here")
