"""Problems whose model, the first time it runs on a worker, writes to stdout and stderr or
looks around its fit process and prints what it finds (it travels by value, as a notebook's
code does). The test reads what it printed back from the job's `output` events."""

from __future__ import annotations

import json
import os

from .problems import GAUSSIAN_SOURCE, gaussian_fit_of, user_module

TALKING_SOURCE = (
    GAUSSIAN_SOURCE
    + """
import ctypes, gc, json, os, socket, sys

def speak():
    print("python line 1")
    os.write(1, b"C-level line\\n")
    print("python line 2", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    sys.stdout.write("caf\\u00e9 \\u2603\\n")

def flood():
    block = "y" * 1000 + "\\n"
    for _ in range(FLOOD_BYTES // len(block)):
        sys.stdout.write(block)
    sys.stdout.flush()

def printf():
    # C's stdio, buffered fully on a pipe: it must still come out before the job's end
    ctypes.CDLL(None).printf(b"from printf\\n")

def look():
    found = {"pid": os.getpid(), "env": dict(os.environ)}
    with open("/proc/self/environ", "rb") as f:
        found["proc_environ"] = f.read().decode(errors="replace")
    found["fds"] = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found["fds"][fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass  # the listing's own descriptor, closed already
    # every object the process holds, the frozen warm heap included
    gc.unfreeze()
    holders, kinds, dicts = set(), set(), []
    for obj in gc.get_objects():
        try:  # some objects lie about their class (Celery's lazy proxies)
            kind = type(obj)
            name = str(getattr(kind, "__module__", "")) + "." + kind.__qualname__
            if name.startswith(("redis.client.", "redis.connection.", "kombu.connection.")):
                if getattr(obj, "__dict__", None):
                    kinds.add(name)
            if obj is SECRETS or type(obj) is dict and obj.get("SECRETS") is SECRETS:
                continue  # this module's own
            for ref in gc.get_referents(obj):
                if type(ref) in (str, bytes) and any(
                    (s if type(ref) is str else s.encode()) in ref for s in SECRETS
                ):
                    holders.add(name)
                    if type(obj) is dict:
                        dicts.append([str(k)[:30] for k in list(obj)[:6]])
        except Exception:
            pass
    found["live_connections"] = sorted(kinds)
    found["secret_holders"] = sorted(holders)
    found["secret_in_dicts"] = dicts
    reached = {}
    for what, address in TARGETS:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(address if family == socket.AF_UNIX else tuple(address))
                s.sendall(b"PING\\r\\n")
                reached[what] = s.recv(64).decode(errors="replace")
        except OSError as e:
            reached[what] = None
    found["reached"] = reached
    print("FOUND " + json.dumps(found))

def carry():
    # a job whose payload carries CARRIED (a global named here travels with the model), and
    # whose output too (the pool process relays it; the payload it sees is compressed)
    print("carrying " + CARRIED, flush=True)

def scan():
    # read this process's whole memory (/proc/self/maps, /proc/self/mem) for the strings
    # the test made of MARKER_PREFIX and 32 hex digits (another owner's earlier payload, the
    # Redis password), known here by their sha256 only, and for URLs of Redis' schemes
    import hashlib, re
    prefix = MARKER_PREFIX.encode()
    url = re.compile(rb"(?:redis|rediss|unix)" + b":" + b"//[!-~]{1,200}")
    hits, urls, scanned = set(), set(), 0
    mem = os.open("/proc/self/mem", os.O_RDONLY)
    with open("/proc/self/maps", "rb") as f:
        maps = f.read().splitlines()
    for line in maps:
        fields = line.split()
        special = len(fields) > 5 and fields[5] in (b"[vvar]", b"[vsyscall]")
        if not fields[1].startswith(b"r") or special:
            continue
        start, end = (int(x, 16) for x in fields[0].split(b"-"))
        at = start
        while at < end:
            try:
                data = os.pread(mem, min(1 << 22, end - at), at)
            except OSError:
                break
            if not data:
                break
            scanned += len(data)
            found = data.find(prefix)
            while found != -1:
                tail = data[found + len(prefix):found + len(prefix) + 32]
                if hashlib.sha256(prefix + tail).hexdigest() in HASHES:
                    hits.add(hashlib.sha256(prefix + tail).hexdigest())
                found = data.find(prefix, found + 1)
            found = data.find(b":" + b"//")
            while found != -1:
                match = url.search(data, max(0, found - 8), found + 203)
                if match and match.start() <= found:
                    urls.add(match.group().decode(errors="replace"))
                found = data.find(b":" + b"//", found + 1)
            at += len(data) - 300 if len(data) > 300 and at + len(data) < end else len(data)
    os.close(mem)
    found = {"hits": sorted(hits), "urls": sorted(urls)[:100], "scanned": scanned}
    print("SCAN " + json.dumps(found))

def forge():
    # write FORGED into every pipe it may write to but stdout and stderr: the one up to its
    # pool process among them
    for fd in os.listdir("/proc/self/fd"):
        try:
            if int(fd) > 2 and os.readlink("/proc/self/fd/" + fd).startswith("pipe:"):
                os.write(int(fd), FORGED)
        except OSError:
            pass

def numba_caches():
    # what bumps' DREAM finds compiled when the fit starts, and whether the fit could write
    # numba's cache beside bumps' source, which every fit and the worker load
    import tempfile
    from bumps.dream import diffev
    pycache = os.path.join(os.path.dirname(diffev.__file__), "__pycache__")
    try:
        tempfile.TemporaryFile(dir=pycache).close()
        writable = True
    except OSError:
        writable = False
    compiled = len(diffev.de_step.overloads)
    print("NUMBA " + json.dumps({"de_step_compiled": compiled, "cache_writable": writable}))

def numba_compile():
    # a signature of a bumps kernel the worker never compiled: numba compiles it in the fit
    # and tries to save it beside bumps' source
    import numpy
    from bumps.dream import util
    before = len(util.draw.overloads)
    util.draw(numpy.int32(1), numpy.int32(3))
    print("NUMBA " + json.dumps({"new_overloads": len(util.draw.overloads) - before}))

def talking_gaussian(x, A, mu, sigma):
    if not DONE[0] and os.getpid() != SUBMITTER:  # on the worker, once
        DONE[0] = True
        ACTIONS[ACTION]()  # named here: cloudpickle ships only the globals a function names
    return gaussian(x, A, mu, sigma)

ACTIONS = {
    "speak": speak, "flood": flood, "printf": printf, "look": look, "forge": forge,
    "scan": scan, "carry": carry,
    "numba_caches": numba_caches, "numba_compile": numba_compile,
}

DONE = [False]
ACTION = "speak"
FLOOD_BYTES = 0
SECRETS = []
TARGETS = []
SUBMITTER = 0
FORGED = b""
MARKER_PREFIX = ""
CARRIED = ""
HASHES = []
"""
)


def talking_module(action: str, **module_globals):
    module = user_module(TALKING_SOURCE, name="talking_notebook_code")
    vars(module).update(ACTION=action, SUBMITTER=os.getpid(), **module_globals)
    return module


def talking_problem(action: str, **module_globals):
    """A gaussian fit whose model runs `action` (speak, flood, printf, look, forge, scan) once on
    the worker."""
    module = talking_module(action, **module_globals)
    return gaussian_fit_of(module.talking_gaussian)


def output_events(remote, job_id: str) -> list[dict]:
    return [e["data"] for e in remote.events(job_id) if e["type"] == "output"]


def printed(remote, job_id: str, stream: str = "stdout") -> str:
    return "".join(e["text"] for e in output_events(remote, job_id) if e["stream"] == stream)


def found(remote, job_id: str, label: str = "FOUND") -> dict:
    """What a `look` model reported (`numba_caches`: label NUMBA; `scan`: SCAN)."""
    for line in printed(remote, job_id).splitlines():
        if line.startswith(label + " "):
            return json.loads(line[len(label) + 1 :])
    raise AssertionError(f"the model reported nothing: {output_events(remote, job_id)}")
