"""Run a notebook in a kernel that a running Jupyter server starts, over the server's REST
API and kernel WebSocket, as JupyterLab does. The kernel is the server's own (its
kernelspec, its environment), so the notebook meets what a user of that server meets."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import nbformat
import requests
import websocket


class ServerKernel:
    def __init__(self, url: str, token: str, cwd: str = ""):
        self.url, self.token = url.rstrip("/") + "/", token
        headers = {"Authorization": f"token {token}"}
        created = requests.post(
            self.url + "api/sessions",
            headers=headers,
            timeout=60,
            json={
                "path": f"{cwd}/notebook-test.ipynb".lstrip("/"),
                "type": "notebook",
                "name": "",
                "kernel": {"name": "python3"},
            },
        )
        created.raise_for_status()
        self.session_id = created.json()["id"]
        self.kernel_id = created.json()["kernel"]["id"]
        ws_url = self.url.replace("http", "ws", 1) + f"api/kernels/{self.kernel_id}/channels"
        self.ws = websocket.create_connection(ws_url, header=headers, timeout=60)
        self.client_session = uuid.uuid4().hex

    def run(self, code: str, timeout: float = 300) -> dict:
        """Execute `code`; return its text output, its error (if any) and its reply status."""
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "test",
                        "session": self.client_session,
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "buffers": [],
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        out = {"text": "", "error": None, "status": None}
        idle = False
        deadline = time.monotonic() + timeout
        while not (idle and out["status"]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply after {timeout} s to:\n{code}")
            msg = self._receive()
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out["text"] += content["text"]
            elif kind in ("display_data", "execute_result"):
                out["text"] += content["data"].get("text/plain", "") + "\n"
            elif kind == "error":
                out["error"] = f"{content['ename']}: {content['evalue']}\n" + "\n".join(
                    content["traceback"]
                )
            elif kind == "execute_reply":
                out["status"] = content["status"]
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        return out

    def _receive(self) -> dict:
        """One message. A message with binary buffers (a widget's image) comes as a binary
        frame: a count, offsets (big-endian uint32), then the JSON message first."""
        opcode, data = self.ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return json.loads(data)
        count = int.from_bytes(data[:4], "big")
        offsets = [int.from_bytes(data[4 * i : 4 * i + 4], "big") for i in range(1, count + 1)]
        end = offsets[1] if count > 1 else len(data)
        return json.loads(data[offsets[0] : end])

    def close(self) -> None:
        self.ws.close()
        requests.delete(
            self.url + f"api/sessions/{self.session_id}",
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
        )


def run_notebook(url: str, token: str, path: Path, cwd: str = "", timeout: float = 300) -> list:
    """Run every code cell of the notebook in order, in a kernel of that server; stop at the
    first error (AssertionError with the cell and its traceback). Returns each cell's text."""
    notebook = nbformat.read(path, as_version=4)
    kernel = ServerKernel(url, token, cwd)
    try:
        texts = []
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            out = kernel.run(cell.source, timeout)
            assert out["status"] == "ok", f"cell failed:\n{cell.source}\n{out['error']}"
            texts.append(out["text"])
        return texts
    finally:
        kernel.close()
