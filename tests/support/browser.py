"""Headless Chromium for the browser tests (tests/ui, tests/compat/ui): Debian's chromium,
driven by the `playwright` package; nothing is downloaded. Fixtures and helpers both test
packages use (a conftest imports the fixtures it wants)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .services import REPO

ARTIFACTS = REPO / "test-artifacts" / "ui"
DOC_IMAGES = REPO / "docs" / "images"
CHROMIUM = os.environ.get("BUMPS_REMOTE_CHROMIUM") or shutil.which("chromium") or ""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000  # a kernel start and a fit take seconds, not Playwright's default 5


def require_chromium() -> str:
    if not CHROMIUM:
        pytest.fail("chromium is not installed (apt-get install chromium; ./run test does it)")
    return CHROMIUM


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of these code cells, on the default Python 3 kernel (no kernel dialog)."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, path)
    return path


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """pytest_jupyter's autouse loop fixtures close and run the current loop, which here is
    Playwright's, already running: these tests use no in-process server, so they get none."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


@pytest.fixture(scope="package")
def browser():
    """Package-scoped: Playwright's sync API keeps its event loop current while it lives,
    which the later tests' asyncio fixtures must not find."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh page (its own context: no storage shared between tests); a screenshot of it
    in test-artifacts/ui/ when the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.errors = []  # uncaught exceptions and console errors, with where they came from
    page.on("pageerror", lambda e: page.errors.append(f"{e}\n{e.stack or ''}"))
    page.on(
        "console",
        lambda m: (
            m.type == "error" and page.errors.append(f"{m.text} @ {m.location.get('url', '')}")
        ),
    )
    yield page
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, for `page` to see that the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def our_errors(page) -> list[str]:
    """The page's errors that come from the sidebar or its server API (their stacks, URLs
    and console.error calls name bumps-remote): the front end's own (Notebook 7.1 logs a
    few) are not ours to fix."""
    return [e for e in page.errors if "bumps-remote" in e]


def run_all_cells(page) -> None:
    """Run > Run All Cells, from the menu bar (the same in JupyterLab and Notebook 7)."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def open_sidebar(page):
    """JupyterLab's left sidebar "Bumps fits" panel, open. Clicking its tab toggles it, and
    after a reload JupyterLab may restore it open just after we look: look again after each
    click."""
    from playwright.sync_api import expect

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
