"""A real IPython kernel to run code in, as a notebook would, and read what it shows."""

from __future__ import annotations

from jupyter_client.manager import start_new_kernel


class KernelSession:
    def __init__(self, env: dict, cwd: str | None = None):
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env, cwd=cwd)

    def run(self, code: str, timeout: float = 120) -> dict:
        """Run `code`; return its stdout, stderr, displayed text and error (if any)."""
        out = {"stdout": "", "stderr": "", "display": "", "error": None}

        def hook(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
            elif kind in ("display_data", "execute_result"):
                out["display"] += content["data"].get("text/plain", "")
            elif kind == "error":
                out["error"] = content

        reply = self.kc.execute_interactive(code, output_hook=hook, timeout=timeout)
        out["status"] = reply["content"]["status"]
        return out

    def restart(self) -> None:
        self.km.restart_kernel(now=True)
        self.kc.wait_for_ready(timeout=60)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
