"""One real Jupyter server for the front ends each environment has (JupyterLab, and
Notebook 7 where installed: the same server serves both), on the session's Redis and
worker, and real headless Chromium (tests/support/browser.py)."""

from __future__ import annotations

import pytest

from ...support.browser import (  # noqa: F401 - fixtures and the report hook, for pytest
    browser,
    jp_asyncio_loop,
    jp_server_cleanup,
    page,
    pytest_runtest_makereport,
    require_chromium,
)
from ...support.frontends import require_notebook7, require_oldest_jupyterlab
from ...support.services import JupyterLab


# Session-scoped, so that pytest checks them before it starts the package's server: where
# the front end is missing, the test skips (or fails) without starting anything.
@pytest.fixture(scope="session")
def notebook7() -> str:
    return require_notebook7()


@pytest.fixture(scope="session")
def oldest_jupyterlab() -> str:
    return require_oldest_jupyterlab()


@pytest.fixture(scope="package")
def frontends(redis_server, worker, tmp_path_factory):
    require_chromium()
    home = tmp_path_factory.mktemp("frontends")
    # Notebook 7 reads the same settings as JupyterLab (news and update checks off)
    settings = f"--JupyterNotebookApp.user_settings_dir={home / 'lab-settings'}"
    server = JupyterLab(home, args=[f"--BumpsRemote.redis_url={redis_server.url}", settings])
    yield server.start()
    server.stop()
