"""Kernels that find the session's `jupyter server` (tests/conftest.py) by themselves."""

from __future__ import annotations

import os

import pytest

from ..support.services import REPO


@pytest.fixture(scope="session")
def kernel_env(notebook_server):
    """What a kernel started by that server would have: discovery finds the server."""
    return {
        **os.environ,
        "JPY_PARENT_PID": str(notebook_server.process.pid),
        "JUPYTER_RUNTIME_DIR": notebook_server.env["JUPYTER_RUNTIME_DIR"],
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONPATH": str(REPO),  # the kernels import tests.support for their problems
    }


@pytest.fixture
def api_client(notebook_server):
    """The kernel-side Python API, connected explicitly to the test server."""
    import jupyter_bumps_remote as remote
    from jupyter_bumps_remote.kernel import api

    remote.connect(notebook_server.url, notebook_server.token)
    yield remote
    api._client = None
