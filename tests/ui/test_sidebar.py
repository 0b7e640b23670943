"""The sidebar in real JupyterLab and real Chromium, against a real Redis and worker: a fit
submitted from a notebook appears and progresses, another is cancelled, the detail view
shows the result, the finish is notified, and the list survives a reload and a restart, as
does the detail view of a running fit (it resumes where it stopped: no row lost or twice)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from ..support.browser import open_sidebar, run_all_cells, screenshot

PROGRESS = """([name, above]) => {
  const bar = document.querySelector(`li[aria-label="${name}"] progress`);
  return bar && bar.value > above && bar.value < 1 ? bar.value : false;
}"""


# The detail view's step count once it exceeds `above` (false until then).
STEPS_ABOVE = """([name, above]) => {
  const plot = document.querySelector(`section[aria-label="Job ${name}"] svg[role="img"]`);
  const m = plot && /^Convergence plot: (\\d+) steps/.exec(plot.getAttribute('aria-label'));
  return m && Number(m[1]) > above ? Number(m[1]) : false;
}"""


def row(panel, name):
    return panel.get_by_role("listitem", name=name, exact=True)


def convergence_rows(store, owner: str, job_id: str) -> int:
    """How many convergence rows the job's event stream holds: what a full replay plots."""
    rows, since = 0, "0"
    while batch := store.events(owner, job_id, since):
        rows += sum(len(e["data"].get("rows") or []) for e in batch if e["type"] == "progress")
        since = batch[-1]["id"]
    return rows


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


def test_list_and_detail_survive_reload_and_server_restart(lab, page, store):
    from jupyter_bumps_remote.shared import transport

    from ..support.problems import gaussian_problem

    payload = transport.encode(gaussian_problem())
    created = lab.api("POST", "jobs", json={"payload": payload, "fitter": "lm", "name": "kept"})
    assert created.status_code == 201, created.text
    # a fit that runs until cancelled (no tolerance stops DE), a few steps a second
    endless = {"steps": 1_000_000, "xtol": 0, "ftol": 0}
    slow = transport.encode(gaussian_problem(model="slow_gaussian"))
    running = lab.api(
        "POST", "jobs", json={"payload": slow, "fitter": "de", "options": endless, "name": "across"}
    )
    assert running.status_code == 201, running.text
    across = running.json()
    page.goto(lab.lab_url())
    panel = open_sidebar(page)
    expect(row(panel, "kept")).to_contain_text("succeeded")

    page.reload()
    panel = open_sidebar(page)  # the restored layout has it open already
    expect(row(panel, "kept")).to_contain_text("succeeded")
    connection = panel.get_by_role("status").first

    row(panel, "across").get_by_role("button", name="across").click()
    detail = panel.get_by_role("region", name="Job across")
    plot = detail.get_by_role("img", name=re.compile("^Convergence plot"))
    page.wait_for_function(STEPS_ABOVE, arg=["across", 0])

    lab.stop()
    expect(connection).to_have_text("disconnected")
    # the server is gone: no more steps reach the page until it is back
    before = int(re.search(r"(\d+) steps", plot.get_attribute("aria-label"))[1])
    lab.start()
    expect(connection).to_have_text("connected")
    # the detail goes on: its next attempt may be up to 12 s away (backoff cap 10 s + jitter)
    page.wait_for_function(STEPS_ABOVE, arg=["across", before], timeout=45_000)
    cancel = lab.api("POST", f"jobs/{across['id']}/cancel")
    assert cancel.status_code == 200, cancel.text
    expect(detail).to_contain_text("cancelled")
    # it resumed after the last event it had: every row of the stream once, none twice
    rows = convergence_rows(store, across["owner"], across["id"])
    expect(plot).to_have_attribute("aria-label", re.compile(rf"^Convergence plot: {rows} steps"))

    # JupyterLab's own "Server Connection Error" dialog may have opened meanwhile, modal, and
    # will not close by itself: the click goes to the button, as the dialog's Close would
    detail.get_by_role("button", name="Back").dispatch_event("click")
    expect(row(panel, "kept")).to_contain_text("succeeded")
