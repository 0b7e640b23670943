"""A WebSocket client of the server's event streams that collects what it hears in a thread,
so a test can assert on one connection across a Redis outage."""

from __future__ import annotations

import json
import threading
import time

import websocket


class EventsListener:
    """One socket to `events` (owner-wide) or `jobs/{id}/events`, read in a daemon thread."""

    def __init__(self, server, path: str = "events", since: str = "0"):
        url = server.url.replace("http://", "ws://") + f"bumps-remote/api/{path}?since={since}"
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {server.token}"], timeout=5
        )
        self.ws.settimeout(None)
        self.events: list[dict] = []
        self.closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, name="events-listener", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                message = self.ws.recv()
                if not message:
                    break
                with self._changed:
                    self.events.append(json.loads(message))
                    self._changed.notify_all()
        except (websocket.WebSocketException, OSError):
            pass
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_for(self, predicate, timeout: float, what: str = "an event") -> dict:
        """The first event (old or new) for which `predicate(event)` holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    state = "closed" if self.closed else f"not within {timeout} s"
                    raise TimeoutError(f"{what}: socket {state}; heard {self.events[-5:]}")
                self._changed.wait(remaining)

    def status(self, job_id: str, status: str, timeout: float) -> dict:
        return self.wait_for(
            lambda e: (
                e["type"] == "status"
                and e["data"].get("job") == job_id
                and e["data"]["status"] == status
            ),
            timeout,
            f"job {job_id} {status}",
        )

    def close(self) -> None:
        self.ws.close()
