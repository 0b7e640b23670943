"""Hosts of a private test network: Linux network namespaces, each with one veth link to a
switch (a bridge in a namespace of its own), made and removed by the test as root.

Each host has `eth0` at 10.231.0.N/24 and its own loopback, and no route but its link's: a
packet to any other address has nowhere to go, so traffic stays between these namespaces
(and on each one's loopback). The names carry this process's id and a random tag, so that
a leftover of a killed run cannot clash with the next one (`Network()` also removes the
namespaces of runs whose process is gone).

Everything a test does "on" a host goes through `host.call(fn, ...)`: it runs in a thread
that has entered the host's namespace (setns), so sockets it opens are on that host's
network, and processes it starts (subprocess forks from the calling thread, and the child
keeps that thread's namespace) run on that host. The test process itself stays in the
machine's namespace.

Without root or `ip` the tests skip, unless BUMPS_REMOTE_TEST_REQUIRE names `netns` (as
`./run test` sets it): then they fail.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import shutil
import signal
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from .libraries import REQUIRE_VARIABLE, required
from .waiting import alive

SUBNET = "10.231.0"  # /24, only ever inside the namespaces made here
CLONE_NEWNET = 0x40000000
PREFIX = "bumps-net-"


def why_not() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces and veth pairs need root"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed (apt-get install iproute2)"
    return None


def require_netns() -> None:
    """Skip the test where namespaces cannot be made (fail, where BUMPS_REMOTE_TEST_REQUIRE
    has netns)."""
    reason = why_not()
    if reason is None:
        return
    if "netns" in required():
        pytest.fail(f"network namespaces are required here ({REQUIRE_VARIABLE}): {reason}")
    pytest.skip(reason)


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _enter(namespace: str) -> None:
    """Move the calling thread into the namespace (only this thread: CLONE_NEWNET is
    per thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
    finally:
        os.close(fd)


class Host:
    """One machine: a namespace whose `eth0` (`address`) is plugged into the switch's port
    `port`. `cut()` and `restore()` take that link down and up (the cable pulled out at the
    switch: the host's eth0 loses its carrier, its address stays)."""

    def __init__(self, network: Network, role: str, number: int):
        self.network, self.role = network, role
        self.namespace = f"{network.tag}-{role}"
        self.address = f"{SUBNET}.{number}"
        self.port = f"to-{role}"[:15]
        self._thread = ThreadPoolExecutor(
            1, thread_name_prefix=f"netns-{role}", initializer=_enter, initargs=(self.namespace,)
        )

    def plug(self) -> None:
        """Make the namespace and its link to the switch."""
        network = self.network
        ip("netns", "add", self.namespace)
        ip(
            "link", "add", "eth0", "netns", self.namespace,
            "type", "veth", "peer", "name", self.port, "netns", network.switch,
        )  # fmt: skip
        ip("-n", network.switch, "link", "set", self.port, "master", Network.BRIDGE, "up")
        ip("-n", self.namespace, "addr", "add", f"{self.address}/24", "dev", "eth0")
        ip("-n", self.namespace, "link", "set", "eth0", "up")
        ip("-n", self.namespace, "link", "set", "lo", "up")

    def call(self, fn, *args, **kwargs):
        """`fn(*args, **kwargs)` on this host (in its namespace's thread); its value."""
        return self.submit(fn, *args, **kwargs).result()

    def submit(self, fn, *args, **kwargs) -> Future:
        """`fn(*args, **kwargs)` started on this host; its future (hosts work in parallel)."""
        return self._thread.submit(fn, *args, **kwargs)

    def routes(self) -> list[str]:
        shown = ip("-n", self.namespace, "-4", "route", "show", "table", "all")
        return [route.strip() for route in shown.splitlines()]

    def link_state(self) -> str:
        """The host's eth0 as `ip -br link` shows it (`UP`, `LOWERLAYERDOWN`, ...)."""
        return ip("-n", self.namespace, "-br", "link", "show", "eth0").split()[1]

    def cut(self) -> None:
        ip("-n", self.network.switch, "link", "set", self.port, "down")

    def restore(self) -> None:
        ip("-n", self.network.switch, "link", "set", self.port, "up")

    def close(self) -> None:
        self._thread.shutdown(wait=True)


class Network:
    """A switch namespace with a bridge, and the hosts plugged into it (`host(role)`).
    `close()` kills what still runs in the hosts' namespaces (only this test's processes can
    be there) and deletes every namespace, with the links in them."""

    BRIDGE = "lan"

    def __init__(self):
        remove_leftovers()
        self.tag = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.switch = f"{self.tag}-switch"
        self.hosts: list[Host] = []
        ip("netns", "add", self.switch)
        try:
            ip("-n", self.switch, "link", "add", self.BRIDGE, "type", "bridge")
            ip("-n", self.switch, "link", "set", self.BRIDGE, "up")
        except Exception:
            self.close()
            raise

    def host(self, role: str) -> Host:
        host = Host(self, role, len(self.hosts) + 1)
        self.hosts.append(host)  # first, so that close() removes what plug() made
        host.plug()
        return host

    def namespaces(self) -> list[str]:
        return [h.namespace for h in self.hosts] + [self.switch]

    def close(self) -> None:
        for host in self.hosts:
            host.close()
        for namespace in self.namespaces():
            if namespace not in existing():
                continue
            for pid in ip("netns", "pids", namespace).split():
                if int(pid) != os.getpid() and alive(int(pid)):
                    os.kill(int(pid), signal.SIGKILL)
            ip("netns", "del", namespace)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def existing() -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def remove_leftovers() -> None:
    """Delete the namespaces of earlier runs whose test process is gone (they hold nothing
    that runs: a namespace with processes in it is left alone)."""
    for namespace in existing():
        found = re.match(rf"{PREFIX}(\d+)-", namespace)
        if found and not alive(int(found.group(1))):
            if not ip("netns", "pids", namespace).split():
                ip("netns", "del", namespace)
