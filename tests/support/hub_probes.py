"""What hub user A tries against user B's jobs from A's own processes (a notebook cell of
A's server, a terminal of it): with A's server's Redis URL (BUMPS_REMOTE_REDIS_URL, as the
hub gave it), through A's server's REST API with B's job ids, through B's server with A's
token, and on B's processes and files. The test (tests/hub/test_two_users.py) says what
each must meet; every outcome is written down, whatever it is, for the test to check:

  'ok: <what came back>'   it went through
  'NOPERM'                  Redis refused it by the ACL (NOPERM, or a script's command that
                            the ACL refused)
  'WRONGPASS'               Redis refused the login
  'http <code>'             an HTTP answer that is not a 2xx
  '<Error>:<errno name>'    an OSError (EACCES, ENOENT, ...)

Each probe against B has a twin on A's own data (`own`), which must go through: a refusal
means something only if the same call on A's own keys works.

Runs as A: `python -m tests.support.hub_probes INPUT.json OUTPUT.json`, or call `probe_all`
from a kernel. Standard library, redis and requests only.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable
from typing import Any

URL_VARIABLE = "BUMPS_REMOTE_REDIS_URL"


class HttpRefusal(Exception):
    """An HTTP answer that is not a 2xx, from a client that is not requests'."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def outcome(action: Callable[[], Any]) -> str:
    import requests
    from redis import exceptions

    try:
        value = action()
    except exceptions.NoPermissionError:
        return "NOPERM"
    except exceptions.AuthenticationError as e:
        # redis-py turns Redis' WRONGPASS reply into this message
        refused = "WRONGPASS" in str(e) or "invalid username-password pair" in str(e)
        return "WRONGPASS" if refused else f"AuthenticationError: {e}"
    except exceptions.ResponseError as e:
        # a script's command refused by the ACL comes back as the script's error
        text = str(e)
        if "NOPERM" in text or "no permissions" in text:
            return "NOPERM"
        return f"ResponseError: {text[:200]}"
    except HttpRefusal as e:
        return f"http {e.status}"
    except requests.HTTPError as e:
        return f"http {e.response.status_code if e.response is not None else '?'}"
    except OSError as e:
        return f"{type(e).__name__}:{errno.errorcode.get(e.errno or 0, e.errno)}"
    except Exception as e:  # noqa: BLE001 - every outcome is reported, for the test to judge
        return f"{type(e).__name__}: {str(e)[:200]}"
    return "ok: " + repr(value)[:1000]


def redis_probes(url: str, keys: dict[str, str]) -> dict[str, str]:
    """Every way to list, read, change or delete the keys named in `keys` (record, result,
    payload, session, events, owner_events, index, active, queue: one owner's, or a queue's
    name) with the Redis URL `url`."""
    import redis

    r = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    record, queue = keys["record"], keys["queue"]
    script_read = "return redis.call('hgetall', KEYS[1])"
    script_cancel = "return redis.call('hset', KEYS[1], 'status', 'cancelled')"
    probes: dict[str, Callable[[], Any]] = {
        # list
        "scan": lambda: r.scan(0, match="*", count=10000),
        "keys": lambda: r.keys("*"),
        "index": lambda: r.zrange(keys["index"], 0, -1),
        "active": lambda: r.smembers(keys["active"]),
        "client_list": lambda: r.client_list(),
        "acl_list": lambda: r.acl_list(),
        # read
        "record": lambda: r.hgetall(record),
        "result": lambda: r.get(keys["result"]),
        "payload": lambda: r.get(keys["payload"]),
        "session": lambda: r.strlen(keys["session"]),
        "events": lambda: r.xrange(keys["events"]),
        "owner_events": lambda: r.xrange(keys["owner_events"]),
        "events_follow": lambda: r.xread({keys["owner_events"]: "0"}, count=1),
        "script_read": lambda: r.eval(script_read, 1, record),
        "copy_out": lambda: r.copy(record, keys["own_scratch"]),
        "dump": lambda: r.dump(record),
        # change (cancel, retry, alter): what the server's scripts do, and more
        "script_cancel": lambda: r.eval(script_cancel, 1, record),
        "set_status": lambda: r.hset(record, "status", "cancelled"),
        "add_event": lambda: r.xadd(keys["events"], {"type": "status", "status": "cancelled"}),
        "trim_events": lambda: r.xtrim(keys["owner_events"], 0),
        "expire": lambda: r.expire(record, 1),
        "overwrite_result": lambda: r.set(keys["result"], b"{}"),
        "index_add": lambda: r.zadd(keys["index"], {"forged": 1}),
        "rename": lambda: r.rename(record, keys["own_scratch"]),
        # delete
        "delete": lambda: r.delete(record, keys["result"], keys["events"]),
        "unlink": lambda: r.unlink(keys["session"]),
        # the queue: read, take, drop or reorder its messages
        "queue_read": lambda: r.lrange(queue, 0, -1),
        "queue_pop": lambda: r.rpop(queue),
        "queue_remove": lambda: r.lrem(queue, 0, "x"),
        "queue_trim": lambda: r.ltrim(queue, 1, 0),
        "queue_move": lambda: r.lmove(queue, keys["own_scratch"]),
        "queue_delete": lambda: r.delete(queue),
        "unacked": lambda: r.hgetall("unacked"),
        # the whole database
        "flushdb": lambda: r.flushdb(),
        "config": lambda: r.config_get("*"),
    }
    return {name: outcome(probe) for name, probe in probes.items()}


def own_twins(url: str, keys: dict[str, str]) -> dict[str, str]:
    """The same reads on the prober's own keys: they must go through."""
    import redis

    r = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    script_read = "return redis.call('hgetall', KEYS[1])"
    probes: dict[str, Callable[[], Any]] = {
        "index": lambda: r.zrange(keys["index"], 0, -1),
        "record": lambda: r.hgetall(keys["record"]),
        "result": lambda: r.get(keys["result"]),
        "events": lambda: r.xrange(keys["events"]),
        "script_read": lambda: r.eval(script_read, 1, keys["record"]),
    }
    return {name: outcome(probe) for name, probe in probes.items()}


def login_as(url: str, user: str) -> str:
    """AUTH as another Redis user with this URL's password."""
    import redis
    from redis.connection import parse_url

    password = parse_url(url).get("password")
    r = redis.Redis.from_url(url, socket_timeout=10)
    return outcome(lambda: r.execute_command("AUTH", user, password))


def rest_probes(server_url: str, other_server_url: str, token: str, jobs: list[str]) -> dict:
    """B's job ids through A's own server (A's token), and B's server with A's token."""
    import requests

    headers = {"Authorization": f"token {token}"}

    def call(method: str, url: str, **kwargs: Any) -> Callable[[], Any]:
        def go() -> Any:
            response = requests.request(method, url, headers=headers, timeout=30, **kwargs)
            response.raise_for_status()
            return response.text[:200]

        return go

    api = server_url + "bumps-remote/api/"
    found: dict[str, str] = {}
    for job in jobs:
        for name, method, path, body in (
            ("get", "GET", f"jobs/{job}", None),
            ("result", "GET", f"jobs/{job}/result", None),
            ("session", "GET", f"jobs/{job}/session.h5", None),
            ("payload", "GET", f"jobs/{job}/payload", None),
            ("cancel", "POST", f"jobs/{job}/cancel", {}),
            ("retry", "POST", f"jobs/{job}/retry", {}),
            ("resume", "POST", f"jobs/{job}/resume", {}),
            ("delete", "DELETE", f"jobs/{job}", None),
        ):
            found[f"{name} {job}"] = outcome(call(method, api + path, json=body))

    def listed() -> list[str]:
        page = requests.get(api + "jobs", headers=headers, timeout=30).json()
        return [job["id"] for job in page["jobs"]]

    found["list"] = outcome(listed)

    def stream(job: str) -> str:
        """The job's event stream (a WebSocket), as the sidebar opens it."""
        import websocket

        url = api.replace("http", "ws", 1) + f"jobs/{job}/events"
        try:
            websocket.create_connection(url, header=headers, timeout=30).close()
        except websocket.WebSocketBadStatusException as e:
            raise HttpRefusal(e.status_code) from None
        return "connected"

    for job in jobs:
        found[f"events {job}"] = outcome(lambda: stream(job))  # noqa: B023 - called at once
    other = other_server_url + "bumps-remote/api/"
    found["other_server_list"] = outcome(call("GET", other + "jobs", allow_redirects=False))
    found["other_server_cancel"] = outcome(
        call("POST", other + f"jobs/{jobs[0]}/cancel", json={}, allow_redirects=False)
    )
    return found


def process_probes(pids: dict[str, int], paths: dict[str, str]) -> dict[str, str]:
    """Read each process's environment (`/proc/<pid>/environ`) and each path."""

    def read(path: str) -> Callable[[], Any]:
        def go() -> Any:
            if os.path.isdir(path):
                return os.listdir(path)
            with open(path, "rb") as f:
                return len(f.read())

        return go

    found = {f"environ {name}": outcome(read(f"/proc/{pid}/environ")) for name, pid in pids.items()}
    found.update({f"read {name}": outcome(read(path)) for name, path in paths.items()})
    return found


def probe_all(spec: dict) -> dict:
    """Every probe `spec` asks for, with this process's Redis URL (A's, from A's server)."""
    url = os.environ[URL_VARIABLE]
    found: dict[str, Any] = {"uid": os.getuid()}
    found["own"] = own_twins(url, spec["own_keys"])  # first: the probes may break things
    found["redis"] = redis_probes(url, spec["victim_keys"])
    found["login_as_victim"] = login_as(url, spec["victim_redis_user"])
    token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    found["rest"] = rest_probes(
        spec["server_url"], spec["other_server_url"], token, spec["victim_jobs"]
    )
    found["processes"] = process_probes(spec.get("pids", {}), spec.get("paths", {}))
    return found


def main(argv: list[str]) -> None:
    with open(argv[0]) as f:
        spec = json.load(f)
    found = probe_all(spec)
    with open(argv[1], "w") as f:
        json.dump(found, f)


if __name__ == "__main__":
    main(sys.argv[1:])
