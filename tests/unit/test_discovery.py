"""Finding the kernel's Jupyter server without configuration (pure: files and variables)."""

import json
import os

import pytest

from jupyter_bumps_remote.kernel.discovery import ServerNotFound, find_server


def server_file(runtime, pid, url="http://127.0.0.1:8888/", token="tok"):
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps({"pid": pid, "url": url,
                                                              "token": token}))  # fmt: skip


def test_explicit_variables_win(tmp_path):
    env = {"BUMPS_REMOTE_SERVER_URL": "http://h:1/x", "BUMPS_REMOTE_TOKEN": "t"}
    server = find_server(env, str(tmp_path))
    assert (server.url, server.token, server.api) == (
        "http://h:1/x/",
        "t",
        "http://h:1/x/bumps-remote/api/",
    )
    assert server.ws_api == "ws://h:1/x/bumps-remote/api/"


def test_jupyterhub_variables(tmp_path):
    env = {"JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:5/user/ann/", "JUPYTERHUB_API_TOKEN": "h"}
    server = find_server(env, str(tmp_path))
    assert server.url == "http://127.0.0.1:5/user/ann/" and server.source == "JupyterHub"


def test_the_parent_server_among_several(tmp_path):
    server_file(tmp_path, os.getpid(), url="http://127.0.0.1:1111/", token="mine")
    server_file(tmp_path, os.getppid(), url="http://127.0.0.1:2222/", token="other")
    server = find_server({"JPY_PARENT_PID": str(os.getpid())}, str(tmp_path))
    assert server.url == "http://127.0.0.1:1111/" and server.token == "mine"


def test_the_only_running_server(tmp_path):
    server_file(tmp_path, os.getpid())
    server_file(tmp_path, 2**22 + 12345)  # a dead server's leftover file is ignored
    assert find_server({}, str(tmp_path)).token == "tok"


def test_no_server_says_what_to_do(tmp_path):
    with pytest.raises(ServerNotFound, match=r"no running Jupyter server.*connect\(url, token\)"):
        find_server({}, str(tmp_path))
