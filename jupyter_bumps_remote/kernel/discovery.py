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
    pass


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
    found = f"{len(servers)} running servers" if servers else "no running Jupyter server"
    raise ServerNotFound(
        f"cannot tell which Jupyter server to use ({found} in the runtime dir, and this "
        "kernel was not started by one of them): call "
        "jupyter_bumps_remote.connect(url, token) with the server's URL and token"
    )


def _info(server: dict, source: str) -> ServerInfo:
    return ServerInfo(_normalize(server["url"]), server.get("token", ""), source)


def _running_servers(runtime_dir: str | None) -> dict[str, dict]:
    from jupyter_core.paths import jupyter_runtime_dir

    directory = Path(runtime_dir or jupyter_runtime_dir())
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
