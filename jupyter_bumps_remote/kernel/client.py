"""HTTP and WebSocket client of the server extension's API (kernel side)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import requests

from .discovery import ServerInfo, find_server

TIMEOUT = 30
# GET session.h5: the server waits up to a minute while a worker builds the file
# (server_ext/service.py SESSION_WAIT), then sends it; a large DREAM file takes a while more
SESSION_TIMEOUT = 150


class RemoteError(Exception):
    """The server refused a request; `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ServerUnreachable(RemoteError):
    pass


class Client:
    def __init__(self, server: ServerInfo | None = None):
        self.server = server or find_server()
        self.session = requests.Session()
        if self.server.token:
            self.session.headers["Authorization"] = f"token {self.server.token}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            kwargs.setdefault("timeout", TIMEOUT)
            response = self.session.request(method, self.server.api + path, **kwargs)
        except requests.Timeout as e:
            # before ConnectionError, which a connect timeout also is; a server that does not
            # answer in time is away for the waits that retry on ServerUnreachable (job.py)
            if isinstance(e, requests.ConnectTimeout):
                raise ServerUnreachable(0, _unreachable(self.server)) from e
            raise ServerUnreachable(
                0,
                f"the Jupyter server at {self.server.url} did not answer {method} {path} within "
                f"{kwargs['timeout']} s; it may be busy: try again",
            ) from e
        except requests.ConnectionError as e:
            raise ServerUnreachable(0, _unreachable(self.server)) from e
        if response.status_code == 404 and not response.headers.get("Content-Type", "").startswith(
            "application/json"
        ):
            raise RemoteError(
                404,
                f"the Jupyter server at {self.server.url} has no bumps-remote extension: "
                "pip install jupyter-bumps-remote where the server runs, then restart it",
            )
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.reason
            except ValueError:
                message = response.text[:500] or response.reason
            raise RemoteError(response.status_code, message)
        return response

    def json(self, method: str, path: str, **kwargs) -> Any:
        """The answer's JSON (None for an empty answer: only DELETE gives one)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:  # a DREAM summary is 240 kB of floats: requests' json module ~10 ms, orjson ~1
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return response.json()

    # -- routes ----------------------------------------------------------------------------

    def info(self) -> dict:
        return self.json("GET", "info")

    def submit(self, body: dict, idempotency_key: str | None = None) -> dict:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.json("POST", "jobs", data=json.dumps(body), headers=headers)

    def submit_batch(self, body: bytes, idempotency_key: str | None = None) -> list[dict]:
        """POST jobs/batch: `body` the JSON of {"jobs": [...]} (at most 1000); the records
        in the order given, all created or none (RemoteError)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.json("POST", "jobs/batch", data=body, headers=headers)["jobs"]

    def get(self, job_id: str, wait: float = 0, with_result: bool = False) -> dict:
        """The job's record; with `wait`, the server answers once the job has ended or
        after `wait` seconds (one long-poll request, no WebSocket); `with_result` adds the
        result summary as "result" once there is one."""
        params = {"include": "result"} if with_result else {}
        if wait:
            params["wait"] = f"{wait:.3f}"
        return self.json("GET", f"jobs/{job_id}", params=params, timeout=wait + TIMEOUT)

    def list(self, status=None, tag=None, offset=0, limit=50) -> dict:
        params = {"offset": offset, "limit": limit}
        params.update({k: v for k, v in (("status", status), ("tag", tag)) if v is not None})
        return self.json("GET", "jobs", params=params)

    def cancel(self, job_id: str) -> dict:
        return self.json("POST", f"jobs/{job_id}/cancel")

    def retry(self, job_id: str, **changes) -> dict:
        return self.json("POST", f"jobs/{job_id}/retry", data=json.dumps(changes))

    def resume(self, job_id: str, steps: int, **changes) -> dict:
        body = {"steps": steps, **changes}
        return self.json("POST", f"jobs/{job_id}/resume", data=json.dumps(body))

    def delete(self, job_id: str) -> None:
        self.request("DELETE", f"jobs/{job_id}")

    def result(self, job_id: str) -> dict:
        return self.json("GET", f"jobs/{job_id}/result")

    def results(self, job_ids: list[str], wait: float = 0) -> dict:
        """Many jobs' records, each with its result summary as "result" once it has one, in
        one request: {"jobs": [...], "missing": [ids not found]}; with `wait`, the server
        answers once all have ended or after `wait` seconds. At most 1000 ids."""
        params = {"wait": f"{wait:.3f}"} if wait else {}
        body = json.dumps({"ids": job_ids})
        return self.json("POST", "jobs/results", params=params, data=body, timeout=wait + TIMEOUT)

    def cancel_many(self, job_ids: list[str]) -> dict:
        """Cancel many jobs in one request: {"jobs": [records after it], "missing": [ids
        not found]}; a job that had ended is left as it was. At most 1000 ids."""
        return self.json("POST", "jobs/cancel", data=json.dumps({"ids": job_ids}))

    def payload(self, job_id: str) -> bytes:
        """The job's problem payload as submitted (transport.decode rebuilds the problem)."""
        return self.request("GET", f"jobs/{job_id}/payload").content

    def session_file(self, job_id: str) -> bytes:
        return self.request("GET", f"jobs/{job_id}/session.h5", timeout=SESSION_TIMEOUT).content

    def events(
        self, job_id: str | None = None, since: str = "0", timeout: float | None = None
    ) -> Iterator[dict]:
        """Events of one job (or of all the user's jobs) from `since` on, as they come.

        Ends when the server closes the socket; raises TimeoutError after `timeout` s of
        silence. The caller remembers the last id to resume without a gap.
        """
        import websocket  # websocket-client, which jupyter_server itself depends on

        path = f"jobs/{job_id}/events" if job_id else "events"
        headers = [f"Authorization: token {self.server.token}"] if self.server.token else []
        try:
            ws = websocket.create_connection(
                f"{self.server.ws_api}{path}?since={since}", header=headers, timeout=timeout
            )
        except websocket.WebSocketBadStatusException as e:
            if e.status_code < 500:  # refused handshake: as REST
                raise RemoteError(e.status_code, _handshake_message(e)) from e
            raise self._unreachable(e) from e  # the server (re)starting: 503 for a moment
        except (OSError, websocket.WebSocketException) as e:
            raise self._unreachable(e) from e
        try:
            while True:
                try:
                    message = ws.recv()
                except websocket.WebSocketTimeoutException as e:
                    raise TimeoutError(f"no event within {timeout} s") from e
                except (websocket.WebSocketConnectionClosedException, OSError):
                    return  # the server went away (restart): the caller resumes from its id
                if not message:
                    return
                yield json.loads(message)
        finally:
            ws.close()

    def _unreachable(self, cause: Exception) -> ServerUnreachable:
        return ServerUnreachable(
            0,
            f"cannot reach the Jupyter server at {self.server.url} ({self.server.source}): "
            f"{cause}; is it running? Call jupyter_bumps_remote.connect(url, token) to use "
            "another",
        )


def _handshake_message(error) -> str:
    try:
        return json.loads(error.resp_body or b"{}").get("message") or str(error)
    except ValueError:
        return str(error)


def _unreachable(server: ServerInfo) -> str:
    return (
        f"cannot reach the Jupyter server at {server.url} ({server.source}); is it running? "
        "Call jupyter_bumps_remote.connect(url, token) to use another"
    )
