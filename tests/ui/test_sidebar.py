"""The sidebar in real JupyterLab and real Chromium, against a real Redis and worker: a fit
submitted from a notebook appears and progresses, another is cancelled, the detail view
shows the result, the finish is notified, and the list survives a reload and a restart."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from ..support.browser import open_sidebar, run_all_cells, screenshot

PROGRESS = """([name, above]) => {
  const bar = document.querySelector(`li[aria-label="${name}"] progress`);
  return bar && bar.value > above && bar.value < 1 ? bar.value : false;
}"""


def row(panel, name):
    return panel.get_by_role("listitem", name=name, exact=True)


def test_submit_watch_cancel_detail_notify(lab, page):
    page.goto(lab.lab_url("lab/tree/fits.ipynb"))
    panel = open_sidebar(page)
    expect(panel.get_by_role("status").first).to_have_text("connected")
    # the kernel is up when the status bar says so (the toolbar's indicator starts idle)
    expect(page.get_by_role("button", name="Python 3 (ipykernel) | Idle")).to_be_visible()
    run_all_cells(page)

    quick = row(panel, "quick")
    expect(quick).to_be_visible()
    expect(quick.get_by_text("de", exact=True)).to_be_visible()
    first = page.wait_for_function(PROGRESS, arg=["quick", 0]).json_value()
    page.wait_for_function(PROGRESS, arg=["quick", first])  # and it rises

    slow = row(panel, "slow")
    expect(slow).to_contain_text("running")
    slow.get_by_role("button", name="Cancel").click()
    expect(slow).to_contain_text("cancelled")
    expect(slow.get_by_role("button", name="Retry")).to_be_visible()

    expect(quick).to_contain_text("succeeded", timeout=60_000)
    expect(page.get_by_text('Fit "quick" succeeded')).to_be_visible()
    expect(quick.get_by_role("progressbar")).to_have_js_property("value", 1)
    screenshot(panel, "sidebar.png")

    quick.get_by_role("button", name="quick").click()
    detail = panel.get_by_role("region", name="Job quick")
    plot = detail.get_by_role("img", name=re.compile("^Convergence plot"))
    expect(plot).to_have_attribute("aria-label", re.compile(r"^Convergence plot: \d+ steps"))
    params = detail.get_by_role("table", name="Parameters")
    for name in ("A", "mu", "sigma"):
        expect(params.get_by_role("row", name=re.compile(rf"^{name} \d"))).to_contain_text("±")
    expect(detail).to_contain_text("seed")
    expect(detail).to_contain_text("python")
    screenshot(panel, "sidebar-detail.png")
    detail.get_by_role("button", name="Back").click()
    expect(row(panel, "slow")).to_be_visible()


def test_list_survives_reload_and_server_restart(lab, page):
    from jupyter_bumps_remote import transport

    from ..support.problems import gaussian_problem

    payload = transport.encode(gaussian_problem())
    created = lab.api("POST", "jobs", json={"payload": payload, "fitter": "lm", "name": "kept"})
    assert created.status_code == 201, created.text
    page.goto(lab.lab_url())
    panel = open_sidebar(page)
    expect(row(panel, "kept")).to_contain_text("succeeded")

    page.reload()
    panel = open_sidebar(page)  # the restored layout has it open already
    expect(row(panel, "kept")).to_contain_text("succeeded")
    connection = panel.get_by_role("status").first

    lab.stop()
    expect(connection).to_have_text("disconnected")
    lab.start()
    expect(connection).to_have_text("connected")
    expect(row(panel, "kept")).to_contain_text("succeeded")
