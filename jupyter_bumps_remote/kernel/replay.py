"""A job's events as the server holds them now, in one call (for `job.output`).

The REST API has no events route: the job's events WebSocket replays its stream from
`?since=` and then follows it. Where the replay ends is marked by a ping: the server replays
inside the socket's `open()`, and tornado reads no frame from a socket before `open()` has
returned, so its pong to a ping sent at once comes after the last replayed event.
"""

from __future__ import annotations

import json
import uuid

from .client import TIMEOUT, Client, RemoteError, _handshake_message


def replay(client: Client, job_id: str, since: str = "0", timeout: float = TIMEOUT) -> list[dict]:
    """Every event of the job after `since` that its stream holds now, oldest first."""
    import websocket  # websocket-client, which jupyter_server itself depends on

    server = client.server
    headers = [f"Authorization: token {server.token}"] if server.token else []
    try:
        ws = websocket.create_connection(
            f"{server.ws_api}jobs/{job_id}/events?since={since}", header=headers, timeout=timeout
        )
    except websocket.WebSocketBadStatusException as e:
        if e.status_code < 500:  # refused handshake: as REST
            raise RemoteError(e.status_code, _handshake_message(e)) from e
        raise client._unreachable(e) from e
    except (OSError, websocket.WebSocketException) as e:
        raise client._unreachable(e) from e
    marker = uuid.uuid4().hex.encode()
    events: list[dict] = []
    try:
        ws.ping(marker)
        while True:
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException as e:
                raise TimeoutError(f"the events of job {job_id} not replayed in {timeout} s") from e
            except (websocket.WebSocketConnectionClosedException, OSError) as e:
                raise client._unreachable(e) from e
            if opcode == websocket.ABNF.OPCODE_PONG and data == marker:
                return events
            if opcode == websocket.ABNF.OPCODE_TEXT:
                events.append(json.loads(data))
            elif opcode == websocket.ABNF.OPCODE_CLOSE:  # e.g. 1011: Redis unreachable
                raise RemoteError(
                    503, f"the server closed the events of job {job_id}: {_why(data)}"
                )
    finally:
        ws.close()


def _why(close_frame: bytes) -> str:
    """The reason in a close frame (2 bytes of code, then text)."""
    return close_frame[2:].decode(errors="replace") or "no reason given"
