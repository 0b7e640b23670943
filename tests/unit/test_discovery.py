"""Finding the kernel's Jupyter server without configuration (files and variables), and what
a kernel no Jupyter server started (VS Code, a plain ipython, a script) is told."""

import json
import os
import re
import subprocess
import sys

import pytest

from jupyter_bumps_remote.kernel.discovery import ServerNotFound, find_server


def server_file(runtime, pid, url="http://127.0.0.1:8888/", token="tok"):
    (runtime / f"jpserver-{pid}.json").write_text(
        json.dumps({"pid": pid, "url": url, "token": token})
    )


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


HOW_TO = [r"connect\(url, token\)", "BUMPS_REMOTE_SERVER_URL", "BUMPS_REMOTE_TOKEN"]


def test_no_server_names_the_cause_and_the_fix(tmp_path):
    with pytest.raises(ServerNotFound) as info:
        find_server({}, str(tmp_path))
    message = str(info.value)
    assert message.startswith("no Jupyter server found for this kernel: none is running here")
    assert str(tmp_path) in message and "it was not started by one" in message
    for fix in HOW_TO:
        assert re.search(fix, message), fix


def test_several_servers_and_none_the_parent(tmp_path):
    server_file(tmp_path, os.getpid(), url="http://127.0.0.1:1111/", token="secret-1")
    server_file(tmp_path, os.getppid(), url="http://127.0.0.1:2222/", token="secret-2")
    with pytest.raises(ServerNotFound) as info:
        find_server({"JPY_PARENT_PID": "1"}, str(tmp_path))
    message = str(info.value)
    assert message.startswith(
        "2 Jupyter servers are running here (http://127.0.0.1:1111/, http://127.0.0.1:2222/) "
        "and none of them is this kernel's parent (JPY_PARENT_PID=1)"
    )
    assert "secret" not in message  # a message gets pasted into issues: no tokens
    for fix in HOW_TO:
        assert re.search(fix, message), fix


def test_a_token_without_a_url_is_named(tmp_path):
    with pytest.raises(ServerNotFound, match="BUMPS_REMOTE_TOKEN is set but BUMPS_REMOTE_SERV"):
        find_server({"BUMPS_REMOTE_TOKEN": "t"}, str(tmp_path))


# What a user runs outside Jupyter: a script that submits, then lists; and plain ipython's
# magic. Each prints what it was told.
SCRIPT = """
import numpy as np
from bumps.names import Curve, FitProblem
import jupyter_bumps_remote as remote

def line(x, a, b):
    return a * x + b

x = np.linspace(0, 1, 10)
curve = Curve(line, x, 2 * x + 1, np.full(10, 0.1), a=1.0, b=0.0)
curve.a.range(0, 5)
curve.b.range(-5, 5)
problem = FitProblem(curve)
for call in (lambda: remote.submit(problem, "lm"), remote.list_jobs):
    try:
        call()
    except remote.kernel.discovery.ServerNotFound as e:
        print("ServerNotFound:", e)
"""
IPYTHON_LINES = [
    "%load_ext jupyter_bumps_remote",
    *SCRIPT.split("for call")[0].strip().splitlines(),
    "%bumps_remote problem --fitter lm",
]


def outside_jupyter(tmp_path) -> dict:
    """The environment of a process no Jupyter server started, on a machine where none runs
    (an empty runtime dir)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BUMPS_REMOTE_", "JPY_", "JUPYTERHUB_"))
    }
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    return {**env, "JUPYTER_RUNTIME_DIR": str(runtime), "MPLBACKEND": "Agg"}


def test_a_plain_python_script_is_told_to_connect(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=outside_jupyter(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    told = done.stdout.splitlines()
    assert len(told) == 2, done.stdout  # submit, then list_jobs
    for line in told:
        assert line.startswith("ServerNotFound: no Jupyter server found for this kernel")
        for fix in HOW_TO:
            assert re.search(fix, line), fix


def test_plain_ipython_magic_is_told_to_connect(tmp_path):
    (tmp_path / "session.ipy").write_text("\n".join(IPYTHON_LINES) + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            "--quick",
            "--no-banner",
            "--colors=NoColor",
            str(tmp_path / "session.ipy"),
        ],
        env=outside_jupyter(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = done.stdout + done.stderr
    assert "UsageError: no Jupyter server found for this kernel" in said, said
    assert re.search(HOW_TO[0], said), said
