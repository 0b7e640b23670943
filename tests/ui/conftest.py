"""A real JupyterLab (shared mode, on the session's Redis and worker) and real headless
Chromium (Debian's, driven by the `playwright` package; nothing is downloaded)."""

from __future__ import annotations

import os
import shutil

import nbformat
import pytest
from playwright.sync_api import expect

from ..support.services import REPO, JupyterLab

ARTIFACTS = REPO / "test-artifacts" / "ui"
DOC_IMAGES = REPO / "docs" / "images"
CHROMIUM = os.environ.get("BUMPS_REMOTE_CHROMIUM") or shutil.which("chromium") or ""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

# What a user types: a problem whose model sleeps a little per call, so that a fit takes
# seconds (progress can be seen rising), then one short and one long fit.
PROBLEM = """\
%load_ext jupyter_bumps_remote
import time
import numpy as np
from bumps.names import Curve, FitProblem

DELAY = 0.001

def gaussian(x, A, mu, sigma):
    time.sleep(DELAY)
    return A * np.exp(-0.5 * ((x - mu) / sigma) ** 2)

x = np.linspace(-5, 5, 40)
y = np.exp(-0.5 * ((x - 0.3) / 1.2) ** 2)
curve = Curve(gaussian, x, y, np.full(40, 0.05), A=0.8, mu=0.0, sigma=1.0)
curve.A.range(0, 3)
curve.mu.range(-2, 2)
curve.sigma.range(0.1, 5)
problem = FitProblem(curve)"""
QUICK = "quick = %bumps_remote problem --fitter de --steps 150 --name quick --tag ui"
SLOW = "slow = %bumps_remote problem --fitter de --steps 100000 --name slow --tag ui"


expect.set_options(timeout=30_000)  # a kernel start and a fit take seconds, not 5


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """pytest_jupyter's autouse loop fixtures close and run the current loop, which here is
    Playwright's, already running: these tests use no in-process server, so they get none."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


@pytest.fixture(scope="session")
def lab(redis_server, worker, tmp_path_factory):
    if not CHROMIUM:
        pytest.fail("chromium is not installed (apt-get install chromium; ./run test does it)")
    home = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (PROBLEM, QUICK, SLOW)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, home / "fits.ipynb")
    server = JupyterLab(home, args=[f"--BumpsRemote.redis_url={redis_server.url}"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def browser():
    """Package-scoped: Playwright's sync API keeps its event loop current while it lives,
    which the later tests' asyncio fixtures must not find."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def open_sidebar(page):
    """The left sidebar's "Bumps fits" panel, open. Clicking its tab toggles it, and after a
    reload JupyterLab may restore it open just after we look: look again after each click."""
    region = page.get_by_role("region", name="Bumps fits")
    tab = page.get_by_role("tab", name="Bumps fits")
    expect(page.locator("#jupyterlab-splash")).to_have_count(0)
    for _ in range(3):
        if region.is_visible():
            break
        tab.click()
        try:
            expect(region).to_be_visible(timeout=3_000)
        except AssertionError:
            continue
    expect(region).to_be_visible()
    return region


def screenshot(locator, name: str, **options) -> None:
    """A screenshot for the docs: always into test-artifacts/ui/; into docs/images/ too when
    BUMPS_REMOTE_DOC_IMAGES=1 (how the docs' pictures are refreshed: a plain test run leaves
    the tracked files alone)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(ARTIFACTS / name), **options)
    if os.environ.get("BUMPS_REMOTE_DOC_IMAGES") == "1":
        (DOC_IMAGES / name).write_bytes((ARTIFACTS / name).read_bytes())
