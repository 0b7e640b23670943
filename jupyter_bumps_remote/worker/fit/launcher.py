"""The fit launcher: the one process of a worker that forks spare fit processes.

A fork copies its parent's memory. A spare forked from a pool process would carry what that
process had seen: freed fragments of earlier jobs (other owners' payloads, output, results
and session files pass through it) and the broker's URL and password
(docs/design.md#what-a-fit-process-holds). So spares are forked from this process instead,
which never sees a job nor holds a credential: the worker's main process starts it by exec,
a fresh Python, with an environment scrubbed as a fit's is (`environment`) and only the fit
settings (no Redis) on its stdin, before the pool forks. It warms itself up as the main
process did (warm.py), then serves the pool processes on a unix socket in a 0700 directory
the main process made, answering only its own user's processes whose parent is the
worker's main process (SO_PEERCRED).

A pool process connects once per spare and sends `{"op": "fork", "rehearse": bool}`; the
launcher forks the spare (spare_child.py: sandbox, rehearsal, job), puts it in a process
group of its own, and sends back its pid with the pool process's ends of its four pipes
(SCM_RIGHTS). The connection then stays the spare's: `wait` is answered with the spare's
wait status once it has exited (it is reaped then, not before: until its pool process knows
how it ended, its pid, and so its uid, stays taken), `poll` at once, and `release` once
everything the fit left behind is killed and reaped. A pool process that goes away (Celery
killed it at the hard time limit) closes the connection: its spare is killed with it.

The launcher is a child subreaper, and so is each spare: what a fit starts and orphans
comes back to the fit while it lives, to the launcher once the fit is gone, which kills it
at once. The launcher dies with the main process (PR_SET_PDEATHSIG), and its spares with it.

Run as `python -m jupyter_bumps_remote.worker.fit.launcher SOCKET_PATH`, the settings as
JSON on stdin; once it serves it writes on stdout `ready` and the fitters its fits offer
(`ready_line`): the worker's heartbeat lists those (worker/main/fit_launcher.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import socket
import struct
import sys
import time

from . import process_tree, sandbox, spare_child, warm
from .fit_settings import FitSettings

log = logging.getLogger("jupyter_bumps_remote.worker.fit.launcher")
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
READY = b"ready"  # then, on the same line, the fitters it offers (ready_line)
# a pool process sends its request as it connects; and the launcher's answers are short
REQUEST_SECONDS = 5.0
# killing what a fit left behind (a fork bomb forks while it is being killed)
CLEAR_SECONDS = 10.0


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The launcher's environment: the worker's, without any variable a fit must not see
    (sandbox.is_secret_name: BUMPS_REMOTE_*, tokens, passwords, Jupyter's, the user's
    session services)."""
    env = dict(os.environ if env is None else env)
    return {name: value for name, value in env.items() if not sandbox.is_secret_name(name)}


def config_of(fit: FitSettings, confinement: dict) -> bytes:
    """What the launcher reads on its stdin: the fit settings and the sandbox's limits."""
    return json.dumps({"fit": vars(fit), "sandbox": confinement, "parent": os.getpid()}).encode()


class _Spare:
    def __init__(self, pid: int, conn: socket.socket):
        self.pid, self.conn = pid, conn
        self.status: int | None = None  # once reaped
        self.waiting = False  # its pool process asked for its wait status
        self.buffer = b""


class Launcher:
    def __init__(
        self,
        listener: socket.socket,
        fit: FitSettings,
        confinement: sandbox.SandboxSettings,
        parent: int,
    ):
        self.listener, self.fit, self.confinement, self.parent = listener, fit, confinement, parent
        self.spares: dict[int, _Spare] = {}
        self.left_behind = 0  # killed or reaped by a sweep since the last release

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select below
        listener = self.listener.fileno()
        while True:
            conns = {spare.conn.fileno(): spare for spare in self.spares.values()}
            try:
                ready = select.select([listener, wake_r, *conns], [], [], 1.0)[0]
            except InterruptedError:
                continue
            for fd in ready:
                if fd == listener:
                    self._accept()
                elif fd == wake_r:
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 4096)
                elif fd in conns and conns[fd].pid in self.spares:
                    self._on_request(conns[fd])
            for spare in list(self.spares.values()):
                if spare.waiting:
                    self._answer_wait(spare)
            self.left_behind += self._sweep()

    # -- requests ---------------------------------------------------------------------------

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        conn.settimeout(REQUEST_SECONDS)
        try:
            if not self._trusted(conn):
                conn.close()
                return
            request = json.loads(process_tree.read_line(conn, bytearray()))
            if request.get("op") != "fork":
                raise ValueError(f"unknown request {request!r}")
        except (OSError, ValueError) as e:
            log.warning("fit launcher: a request failed: %s", e)
            conn.close()
            return
        self._fork(conn, bool(request.get("rehearse", True)))

    def _trusted(self, conn: socket.socket) -> bool:
        """Only the worker's own processes: its user, its main process (a solo pool) or a
        child of it (a pool process)."""
        pid, uid, _ = struct.unpack(
            "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        )
        if uid == os.geteuid() and self.parent in (pid, process_tree.parent_of(pid)):
            return True
        log.warning("fit launcher: refused a connection from pid %d (uid %d)", pid, uid)
        return False

    def _fork(self, conn: socket.socket, rehearse: bool) -> None:
        try:
            parent_ends, child_ends = spare_child.pipes()
            pid = os.fork()
        except OSError as e:
            log.error("fit launcher: cannot fork a spare fit process: %s", e)
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"error": str(e)}).encode() + b"\n")
            conn.close()
            return
        if pid == 0:  # the spare
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for fd in parent_ends:
                    os.close(fd)
                for held in (self.listener, conn, *(s.conn for s in self.spares.values())):
                    held.close()
                code = spare_child.serve_one_job(
                    self.fit, self.confinement, child_ends, rehearse, subreaper=True
                )
            finally:
                os._exit(code)
        for fd in child_ends.all():
            os.close(fd)
        with contextlib.suppress(OSError):  # the group exists before the fit can fork
            os.setpgid(pid, pid)
        spare = self.spares[pid] = _Spare(pid, conn)
        try:
            reply = json.dumps({"pid": pid}).encode() + b"\n"
            socket.send_fds(conn, [reply], list(parent_ends))
        except OSError:  # its pool process is gone already
            self._end(spare)
        finally:
            for fd in parent_ends:
                os.close(fd)

    def _on_request(self, spare: _Spare) -> None:
        try:
            data = spare.conn.recv(4096)
        except OSError:
            data = b""
        if not data:  # its pool process is gone: nothing may outlive it
            self._end(spare)
            return
        spare.buffer += data
        while b"\n" in spare.buffer:
            line, spare.buffer = spare.buffer.split(b"\n", 1)
            try:
                op = json.loads(line).get("op")
            except ValueError:
                op = None
            if op == "wait":
                spare.waiting = True
            elif op == "poll":
                self._reap(spare)
                self._send(spare, {"status": spare.status})
            elif op == "release":
                left = self._end(spare, answer=True) + self.left_behind
                self.left_behind = 0
                if left:
                    log.warning("killed %d processes the fit left behind", left)
                return

    def _answer_wait(self, spare: _Spare) -> None:
        if self._reap(spare):
            spare.waiting = False
            self._send(spare, {"status": spare.status})

    def _send(self, spare: _Spare, message: dict) -> None:
        try:
            spare.conn.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            self._end(spare)

    # -- processes --------------------------------------------------------------------------

    def _reap(self, spare: _Spare) -> bool:
        """Reap the spare if it has exited; True once it is."""
        if spare.status is None:
            try:
                done, status = os.waitpid(spare.pid, os.WNOHANG)
            except ChildProcessError:  # cannot happen: only this process reaps its spares
                done, status = spare.pid, 0
            if done:
                spare.status = status
        return spare.status is not None

    def _end(self, spare: _Spare, answer: bool = False) -> int:
        """Kill the spare if it still runs, reap it, kill and reap whatever it left behind;
        answer `released` if asked, and let the connection go. Returns how many processes it
        left behind."""
        if spare.status is None:
            with contextlib.suppress(OSError):
                os.kill(spare.pid, signal.SIGKILL)
            spare.status = os.waitpid(spare.pid, 0)[1]
        del self.spares[spare.pid]
        left = self._clear(spare.pid)
        if answer:
            with contextlib.suppress(OSError):
                spare.conn.sendall(json.dumps({"released": left}).encode() + b"\n")
        spare.conn.close()
        return left

    def _clear(self, group: int) -> int:
        """SIGKILL the fit's group and every child of this process but the live spares
        (orphans of ended fits), reap them, until none is left."""
        killed = 0
        deadline = time.monotonic() + CLEAR_SECONDS
        while True:
            with contextlib.suppress(OSError):  # ESRCH: the group is empty
                os.killpg(group, signal.SIGKILL)
            left = self._sweep()
            killed += left
            if not left and not process_tree.group_alive(group):
                return killed
            if time.monotonic() > deadline:
                log.error("processes of a fit still alive after %g s", CLEAR_SECONDS)
                return killed
            time.sleep(0.01)

    def _sweep(self) -> int:
        """Kill and reap this process's children that are not spares: what ended fits left
        behind (re-parented here). Returns how many there were."""
        others = [pid for pid in process_tree.children() if pid not in self.spares]
        for pid in others:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        return len(others)


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value)


def bind(path: str) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a launcher's before this one
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    return listener


def ready_line() -> bytes:
    """`ready`, then the ids of the fitters this launcher's fits offer as a sorted JSON list,
    on one line: the worker's main process advertises them in its heartbeat, and so never
    imports bumps.fitters (scipy, h5py) itself."""
    from ...shared import jobs

    return READY + b" " + json.dumps(sorted(jobs.fitters())).encode() + b"\n"


def main(argv: list[str] | None = None) -> int:
    path = (sys.argv[1:] if argv is None else argv)[0]
    # nothing of the worker's current directory on the path a fit imports from
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path.pop(0)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with the worker's main process
    # A Slurm job's walltime or scancel sends SIGTERM to every process of the job at once:
    # the running fits are its children, and they are sending their last checkpoint (the
    # worker's drain, docs/cluster.md#drain-and-checkpoints). The main process ends it with
    # SIGKILL once its pool is done (worker/main/fit_launcher.py).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config = json.loads(sys.stdin.buffer.read())
    if os.getppid() != config["parent"]:  # it died before the line above
        return 1
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="[%(asctime)s: %(levelname)s/fit launcher] %(message)s",
    )
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    fit = FitSettings(**config["fit"])
    confinement = spare_child.sandbox_settings(**config["sandbox"])
    listener = bind(path)  # pool processes may connect now; they are answered once warm
    warm.warm_up()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.write(1, ready_line())
    os.dup2(null, 1)  # nothing more for the main process to read
    os.close(null)
    log.info("fit launcher %d ready: spares fork from here", os.getpid())
    Launcher(listener, fit, confinement, config["parent"]).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
