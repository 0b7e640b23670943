"""The live notebook panel of a RemoteJob (ipywidgets), or a text line outside notebooks.

Every field of the record and of its events reaches the panel's HTML escaped: a record is
data from Redis that a tampered job could have written. The fit's output is shown collapsed.

Updates come from a background thread that follows the job's WebSocket. ipykernel 7 only
routes output from a thread that says which request it belongs to, so the thread adopts
the parent header of the cell that displayed the panel (ipywidgets #4020).
"""

from __future__ import annotations

import html
import math
import tempfile
import threading
import time
from pathlib import Path

from ..shared import jobs
from .output import Output

PLOT_INTERVAL = 1.0  # the convergence plot is redrawn at most once a second
# The output box is redrawn whole (up to the worker's cap, 1 MiB by default), so at most
# once a second while events come, and once more at the end.
OUTPUT_INTERVAL = 1.0
WIDTH, HEIGHT = 360, 140
STATUS_STYLE = {
    jobs.QUEUED: ("⏳", "#888"),
    jobs.RUNNING: ("▶", "#1976d2"),
    jobs.SUCCEEDED: ("✔", "#2e7d32"),
    jobs.FAILED: ("✖", "#c62828"),
    jobs.CANCELLED: ("■", "#ef6c00"),
}


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def display_job(job) -> None:
    from IPython.display import display

    if not in_notebook():
        print(repr(job))
        return
    cell = (_current_parent() or {}).get("header", {}).get("msg_id")
    if cell is not None and getattr(job, "_shown_in", None) == cell:
        return
    job._shown_in = cell
    panel = JobPanel(job)
    job._panel = panel
    display(panel.box)
    panel.start()


class JobPanel:
    def __init__(self, job):
        import ipywidgets as w

        self.job = job
        self.title = w.HTML()
        self.status = w.HTML()
        self.bar = w.FloatProgress(min=0.0, max=1.0, value=0.0, layout={"width": "360px"})
        self.numbers = w.HTML()
        self.plot = w.HTML()
        self.cancel = w.Button(description="Cancel", icon="stop", button_style="warning")
        self.cancel.on_click(lambda _: self._cancel())
        self.table = w.HTML()
        self.figures = w.VBox()
        self.output = Output()
        self.output_text = w.HTML()
        # collapsed, and hidden until the fit prints something
        self.output_box = w.Accordion(
            children=[self.output_text], titles=("Output",), layout={"display": "none"}
        )
        self.box = w.VBox(
            [
                self.title,
                w.HBox([self.status, self.cancel]),
                self.bar,
                self.numbers,
                self.plot,
                self.output_box,
                self.table,
                self.figures,
            ]
        )
        self.rows: list[list[float | None]] = []
        self.last_progress: dict | None = None
        self.terminal = False
        self.last_plot = 0.0
        self.last_output = 0.0
        self.output_pending = False
        self.finished = threading.Event()
        self._parent = _current_parent()
        self._render_record(job.record)

    def start(self) -> None:
        threading.Thread(
            target=self._follow, name=f"bumps-job-{self.job.id[:8]}", daemon=True
        ).start()

    def join(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    # -- the thread --------------------------------------------------------------------------

    def _follow(self) -> None:
        _adopt_parent(self._parent)
        try:
            for event in self.job.events():
                if event["type"] == "progress":
                    self._render_progress(event["data"])
                elif event["type"] == "status":
                    self._render_status(event["data"]["status"], event["data"])
                elif event["type"] == "output":
                    self.output_pending |= self.output.add(event["data"])
                self._render_output()
            self.job.refresh()
            self._render_status(self.job.record["status"], self.job.record)
            self._render_plot(force=True)
            self._render_output(force=True)
            self._render_final()
        except Exception as e:  # noqa: BLE001 - the panel says what broke; the job is fine
            self.numbers.value = f"<i>live updates stopped: {html.escape(str(e))}</i>"
        finally:
            self.finished.set()

    def _cancel(self) -> None:
        self.cancel.disabled = True
        try:
            self.job.cancel()
        except Exception as e:  # noqa: BLE001 - shown on the panel, not raised into the UI
            self.numbers.value = f"<i>cancel failed: {html.escape(str(e))}</i>"

    # -- rendering ---------------------------------------------------------------------------

    def _render_record(self, record: dict) -> None:
        name = html.escape(str(record.get("name") or "fit"))
        self.title.value = (
            f"<b>{name}</b> · {html.escape(str(record.get('fitter', '')))} · "
            f'<code>get_job("{html.escape(str(record["id"]))}")</code>'
        )
        self._render_status(record["status"], record)
        if record.get("progress"):
            self._render_progress(record["progress"])

    def _render_status(self, status: str, data: dict) -> None:
        icon, colour = STATUS_STYLE.get(status, ("?", "#888"))
        detail = data.get("reason") or (data.get("error") or {}).get("message") or ""
        self.status.value = (
            f'<span style="color:{colour}">{icon} {html.escape(str(status))}</span>'
            + (f" — {html.escape(str(detail))}" if detail else "")
        )
        self.cancel.disabled = self.terminal = status in jobs.TERMINAL
        # A disabled button keeps its orange "warning" look: an ended job shows none at all.
        self.cancel.layout.display = "none" if self.terminal else None
        if self.last_progress:
            self._render_numbers(self.last_progress)
        if status == jobs.SUCCEEDED:
            self.bar.value = self.bar.max
            self.bar.bar_style = "success"
        elif status == jobs.FAILED:
            self.bar.bar_style = "danger"
        elif status == jobs.CANCELLED:
            self.bar.bar_style = "warning"

    def _render_progress(self, data: dict) -> None:
        step, total = data.get("step", 0), data.get("max_steps") or 0
        if total and not self.terminal:
            self.bar.max = float(total)
            self.bar.value = float(min(step, total))
        self.rows.extend(data.get("rows") or [])
        self.last_progress = data
        self._render_numbers(data)
        self._render_plot()

    def _render_numbers(self, data: dict) -> None:
        step, total = data.get("step", 0), data.get("max_steps") or 0
        elapsed = data.get("elapsed") or 0.0
        parts = [f"step {step}" + (f" / {total}" if total else "")]
        if data.get("chisq") is not None:
            parts.append(f"χ² = {data['chisq']:.5g}")
        parts.append(f"elapsed {_duration(elapsed)}")
        if total and 0 < step < total and not self.terminal:
            parts.append(f"remaining ~{_duration(elapsed * (total - step) / step)}")
        self.numbers.value = html.escape(" · ".join(parts))

    def _render_plot(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_plot < PLOT_INTERVAL:
            return
        self.last_plot = now
        self.plot.value = convergence_svg(self.rows)

    def _render_output(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.output_pending or (not force and now - self.last_output < OUTPUT_INTERVAL):
            return
        self.last_output, self.output_pending = now, False
        lines = self.output.lines
        title = f"Output ({lines} line{'s' if lines != 1 else ''}"
        self.output_box.set_title(0, title + (", cut off)" if self.output.truncated else ")"))
        self.output_text.value = self.output.html()
        self.output_box.layout.display = None

    def _render_final(self) -> None:
        record = self.job.record
        if not record.get("has_result"):
            return
        result = self.job.result()
        self.table.value = result._repr_html_()
        self.figures.children = tuple(_images(result))


def convergence_svg(rows: list[list[float | None]]) -> str:
    """χ² over steps, log scale: the best value, and the 20-80% band of the population."""
    points = [(i, r) for i, r in enumerate(rows) if r and r[0] is not None and r[0] > 0]
    if len(points) < 2:
        return ""
    values = [v for _, r in points for v in (r[0], *(r[2:5:2] if len(r) > 4 else ())) if v]
    low, high = math.log10(min(values)), math.log10(max(values))
    span = (high - low) or 1.0
    last = points[-1][0] or 1

    def xy(step, value):
        x = 30 + (WIDTH - 40) * step / last
        y = 10 + (HEIGHT - 30) * (1 - (math.log10(value) - low) / span)
        return f"{x:.1f},{y:.1f}"

    best = " ".join(xy(i, r[0]) for i, r in points)
    band = ""
    if all(len(r) > 4 and r[2] and r[4] for _, r in points):
        upper = [xy(i, r[4]) for i, r in points]
        lower = [xy(i, r[2]) for i, r in reversed(points)]
        band = f'<polygon points="{" ".join(upper + lower)}" fill="#90caf9" opacity="0.5"/>'
    return (
        f'<svg width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="convergence">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white" stroke="#ccc"/>{band}'
        f'<polyline points="{best}" fill="none" stroke="#1565c0" stroke-width="1.5"/>'
        f'<text x="32" y="{HEIGHT - 6}" font-size="10">steps → {last}</text>'
        f'<text x="32" y="20" font-size="10">χ² {10**high:.3g}</text>'
        f'<text x="32" y="{HEIGHT - 20}" font-size="10">χ² {10**low:.3g}</text></svg>'
    )


def _images(result):
    """bumps' own plots as PNG images: the fit with residuals; for DREAM the parameter
    distributions and correlations."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    # The kernel's own backend stays (matplotlib.use would switch it for the whole kernel:
    # the notebook's plots would stop showing), and only the figures drawn here are closed,
    # not those the user has open.
    before = set(plt.get_fignums())
    with tempfile.TemporaryDirectory() as tmp:
        base = str(Path(tmp) / "fit")
        try:
            result.problem.plot(figfile=base)
            if result.state is not None:
                _dream_plots(result.state, base)
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
        return [
            w.Image(value=png.read_bytes(), format="png", layout={"max_width": "480px"})
            for png in sorted(Path(tmp).glob("*.png"), key=_figure_order)
        ]


def _figure_order(png: Path) -> tuple[int, str]:
    """The fit first (bumps names it fit-model0.png, …), then distributions, correlations."""
    rank = {"vars": 1, "corr": 2}.get(png.stem.rsplit("-", 1)[-1], 0)
    return rank, png.name


def _dream_plots(state, base: str) -> None:
    """Parameter distributions and correlations, as bumps' plot_all draws them (without
    the text report plot_all prints, which would land in the cell's output)."""
    import matplotlib.pyplot as plt
    from bumps.dream import varplot, views
    from bumps.dream.stats import var_stats

    draw = state.draw()
    stats = var_stats(draw)
    plt.figure(figsize=varplot.var_plot_size(len(stats)))
    varplot.plot_vars(draw, stats)
    plt.savefig(base + "-vars.png")
    if draw.Nvar <= views.CORRPLOT_MAXVAR:
        plt.figure()
        views.plot_corrmatrix(draw)
        plt.savefig(base + "-corr.png")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    return (
        f"{minutes} min {seconds:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def _current_parent():
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell.get_parent() if shell is not None and hasattr(shell, "get_parent") else None
    except Exception:  # noqa: BLE001 - not in a kernel: nothing to adopt
        return None


def _adopt_parent(parent) -> None:
    if parent is None:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if hasattr(shell, "set_thread_parent"):  # ipykernel >= 7.1
        shell.set_thread_parent(parent)
    elif hasattr(shell, "set_parent"):
        shell.set_parent(parent)
