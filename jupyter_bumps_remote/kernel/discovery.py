"""Find the Jupyter server this kernel belongs to, without configuration.

In order: `connect(url, token)`; the variables BUMPS_REMOTE_SERVER_URL and
BUMPS_REMOTE_TOKEN (scripts, CI); JupyterHub's JUPYTERHUB_SERVICE_URL and
JUPYTERHUB_API_TOKEN; the server that started this kernel (JPY_PARENT_PID) from its
`jpserver-<pid>.json` in the Jupyter runtime dir; the only running server there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class ServerNotFound(RuntimeError):
    """This kernel cannot tell which Jupyter server holds its fits; the message says why
    and what to do."""


# What every "not found" message ends with: the two ways to name the server.
HOW_TO_CONNECT = (
    "Tell it which server to use: call jupyter_bumps_remote.connect(url, token) with the "
    "server's URL and token (`jupyter server list` prints both), or set "
    "BUMPS_REMOTE_SERVER_URL and BUMPS_REMOTE_TOKEN before starting Python. The server "
    "needs jupyter-bumps-remote installed."
)


@dataclass(frozen=True)
class ServerInfo:
    url: str  # base URL of the Jupyter server, ending in "/"
    token: str
    source: str

    @property
    def api(self) -> str:
        return self.url + "bumps-remote/api/"

    @property
    def ws_api(self) -> str:
        return "ws" + self.api[len("http") :]


def _normalize(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def find_server(environ=None, runtime_dir: str | None = None) -> ServerInfo:
    environ = os.environ if environ is None else environ
    if environ.get("BUMPS_REMOTE_SERVER_URL"):
        return ServerInfo(
            _normalize(environ["BUMPS_REMOTE_SERVER_URL"]),
            environ.get("BUMPS_REMOTE_TOKEN", ""),
            "BUMPS_REMOTE_SERVER_URL",
        )
    if environ.get("JUPYTERHUB_SERVICE_URL") and environ.get("JUPYTERHUB_API_TOKEN"):
        return ServerInfo(
            _normalize(environ["JUPYTERHUB_SERVICE_URL"]),
            environ["JUPYTERHUB_API_TOKEN"],
            "JupyterHub",
        )
    servers = _running_servers(runtime_dir)
    parent = environ.get("JPY_PARENT_PID")
    if parent and parent in servers:
        return _info(servers[parent], f"jpserver-{parent}.json")
    if len(servers) == 1:
        (pid, server), *_ = servers.items()
        return _info(server, f"jpserver-{pid}.json")
    raise ServerNotFound(_not_found_message(environ, servers, runtime_dir))


def _not_found_message(environ, servers: dict[str, dict], runtime_dir: str | None) -> str:
    """Why no server was chosen (none running, or several and none this kernel's parent),
    then how to choose one. Never the tokens: the message may be shared."""
    parent = environ.get("JPY_PARENT_PID")
    outside = "VS Code, a plain ipython, a script?"
    if servers:
        urls = ", ".join(sorted(_normalize(s.get("url", "?")) for s in servers.values()))
        whose = f"JPY_PARENT_PID={parent}" if parent else f"no JPY_PARENT_PID: {outside}"
        cause = (
            f"{len(servers)} Jupyter servers are running here ({urls}) and none of them "
            f"is this kernel's parent ({whose})"
        )
    else:
        cause = (
            f"no Jupyter server found for this kernel: none is running here (no live "
            f"jpserver-*.json in {_runtime_dir(runtime_dir)}) and it was not started by "
            f"one ({outside})"
        )
    if environ.get("BUMPS_REMOTE_TOKEN") and not environ.get("BUMPS_REMOTE_SERVER_URL"):
        cause += "; BUMPS_REMOTE_TOKEN is set but BUMPS_REMOTE_SERVER_URL is not"
    return f"{cause}. {HOW_TO_CONNECT}"


def _info(server: dict, source: str) -> ServerInfo:
    return ServerInfo(_normalize(server["url"]), server.get("token", ""), source)


def _runtime_dir(runtime_dir: str | None) -> Path:
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(runtime_dir or jupyter_runtime_dir())


def _running_servers(runtime_dir: str | None) -> dict[str, dict]:
    directory = _runtime_dir(runtime_dir)
    servers = {}
    for path in directory.glob("jpserver-*.json"):
        try:
            server = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = str(server.get("pid", ""))
        if pid and _alive(int(pid)):
            servers[pid] = server
    return servers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
