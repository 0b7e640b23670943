"""A server that does not answer in time gives a clear error, not requests' own exception."""

from __future__ import annotations

import socket
import threading

import pytest

from jupyter_bumps_remote.kernel import client as client_module
from jupyter_bumps_remote.kernel.client import Client, ServerUnreachable
from jupyter_bumps_remote.kernel.discovery import ServerInfo


@pytest.fixture
def silent_server():
    """A real socket that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_server_that_does_not_answer_names_the_request_and_the_wait(silent_server):
    client = Client(ServerInfo(silent_server, "", "test"))
    with pytest.raises(ServerUnreachable) as raised:
        client.request("GET", "jobs", timeout=0.3)
    assert raised.value.message == (
        f"the Jupyter server at {silent_server} did not answer GET jobs within 0.3 s; it may "
        "be busy: try again"
    )


def test_a_session_file_waits_longer_than_the_server_waits_for_its_build():
    from jupyter_bumps_remote.server_ext.service import SESSION_WAIT

    # the server answers a session file being built after SESSION_WAIT: the client must not
    # give up first
    assert client_module.SESSION_TIMEOUT > SESSION_WAIT + client_module.TIMEOUT
