"""Execute notebooks headless in a real kernel that finds the test server by itself."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def execute(path: Path, env: dict, cwd: Path, timeout: int = 300) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute(env=env)
    except CellExecutionError as e:  # the failing cell, then what led up to it
        raise AssertionError(
            f"{e}\nThe cells before it printed:\n{outputs_so_far(notebook)}"
        ) from None
    return notebook


def outputs_so_far(notebook) -> str:
    """Each executed code cell's first line and text output, for a failure's message."""
    shown = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.get("execution_count"):
            text = "".join(
                out["text"] if "text" in out else out.get("data", {}).get("text/plain", "")
                for out in cell.get("outputs", [])
            )
            shown.append(f"[{cell.execution_count}] {cell.source.splitlines()[0]}\n{text}")
    return "\n".join(shown)


def text_of(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
            parts.append(output["data"].get("text/html", ""))
    return "".join(parts)


def widget_states(notebook) -> list[dict]:
    saved = notebook.metadata.get("widgets", {})
    state = saved.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [model["state"] for model in state.values()]
