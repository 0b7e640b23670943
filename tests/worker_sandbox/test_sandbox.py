"""The sandbox of a fit process (jupyter_bumps_remote/worker/fit/sandbox.py), tried from
inside: real forks of this process enter it, then look around as a hostile model would and
report what they found over the one pipe they keep.

As root (these tests skip otherwise): each fit a uid of its own, network, mount and IPC
namespaces. A worker that is not root is played by a child that became `nobody` first.

What a sandboxed child imports lazily (a process pool's modules) it reads from disk as the
fit's user: test_sandbox_paths.py tries that where Python lies under a closed directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import multiprocessing
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from multiprocessing.pool import ThreadPool
from pathlib import Path

import pytest

from jupyter_bumps_remote.shared import machine
from jupyter_bumps_remote.worker.fit import sandbox
from jupyter_bumps_remote.worker.fit.sandbox import SandboxSettings

from ..support.sandboxed import (
    DEADLINE,
    answer_of,
    error_name,
    read_to_end,
    sandboxed,
    write_all,
)

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="the sandbox switches users and makes namespaces: Linux, tests run as root",
)
NOBODY = 65534
SECRET = "hunter2-" + uuid.uuid4().hex[:8]
_PR_SET_CHILD_SUBREAPER = 36


def shown_from_the_hosts_tmp() -> set[str]:
    """What a fit's fresh /tmp lists besides its own files: the top of each path it must read
    that lies in the host's /tmp (a checkout and its venv cloned there, as CI may do), which
    the sandbox binds back read-only."""
    shown = set()
    for path in sandbox.needed_paths():
        real = os.path.realpath(path)
        if real.startswith("/tmp/"):
            shown.add(real[len("/tmp/") :].split("/")[0])
    return shown


def status_lines(*prefixes: str) -> dict[str, str]:
    with open("/proc/self/status") as f:
        return {
            key: value.strip()
            for key, _, value in (line.partition(":") for line in f)
            if key.startswith(prefixes)
        }


@pytest.fixture
def settings(tmp_path) -> SandboxSettings:
    return SandboxSettings(tmp_root=str(tmp_path / "fits"))


@pytest.fixture
def listener():
    """A TCP socket of the host (this process) on every address, accepting nothing."""
    with socket.socket() as server:
        server.bind(("0.0.0.0", 0))
        server.listen()
        server.setblocking(False)
        yield server


def host_address() -> str | None:
    """This machine's address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        return probe.getsockname()[0]


def test_a_fit_runs_as_a_user_of_its_own_without_any_privilege(settings):
    def check(handle):
        return {
            "handle": [handle.uid, handle.gid, handle.own_network, handle.private_mounts],
            "ids": [os.getresuid(), os.getresgid(), os.getgroups()],
            "status": status_lines("Cap", "NoNewPrivs"),
            "back to root": error_name(lambda: os.setuid(0)),
            "core": resource.getrlimit(resource.RLIMIT_CORE),
        }

    outcome = sandboxed(settings, check)
    assert outcome.error is None, outcome.error
    found = outcome.answer
    uid = settings.fit_uid_base + outcome.pid
    assert found["handle"] == [uid, uid, True, True]
    assert found["ids"] == [[uid] * 3, [uid] * 3, []]
    for name in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(found["status"][name], 16) == 0, found["status"]
    assert found["status"]["NoNewPrivs"] == "1"
    assert found["back to root"] == "PermissionError:EPERM"
    assert found["core"] == [0, 0]


def test_a_named_fit_user_is_used_for_every_fit(settings):
    found = answer_of(replace(settings, fit_user="nobody"), lambda h: os.getresuid())
    assert found == [NOBODY] * 3


def test_a_fit_has_no_network_only_its_own_loopback(settings, listener):
    port = listener.getsockname()[1]
    address = host_address() or "127.0.0.1"  # no other address: the loopback case again

    def connect(host: str, to_port: int) -> None:
        with socket.create_connection((host, to_port), timeout=5):
            pass

    def check(handle):
        with socket.socket() as own:  # a server of its own on its loopback works
            own.bind(("127.0.0.1", 0))
            own.listen()
            loopback = error_name(lambda: connect("127.0.0.1", own.getsockname()[1]))
        return {
            "interfaces": [name for _, name in socket.if_nameindex()],
            "own loopback": loopback,
            "host's 127.0.0.1": error_name(lambda: connect("127.0.0.1", port)),
            "host's address": error_name(lambda: connect(address, port)),
        }

    found = answer_of(settings, check)
    assert found["interfaces"] == ["lo"]
    assert found["own loopback"] == "ok"
    assert found["host's 127.0.0.1"] == "ConnectionRefusedError:ECONNREFUSED"
    if address != "127.0.0.1":
        assert found["host's address"] == "OSError:ENETUNREACH"
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever arrived


@contextlib.contextmanager
def unix_listener(directory: str, mode: int):
    path = os.path.join(directory, "redis.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        os.chmod(path, 0o777)
        os.chmod(directory, mode)
        server.listen()
        yield path


def test_the_hosts_unix_sockets_are_out_of_reach(settings):
    """One in a 0700 directory of root's outside /tmp (as embedded Redis' is), one open to
    all in /tmp: the first by permissions, the second because /tmp is the fit's own."""
    closed = tempfile.mkdtemp(prefix="bumps-remote-test-", dir="/run")
    open_to_all = tempfile.mkdtemp(prefix="bumps-remote-test-", dir="/tmp")
    try:
        with (
            unix_listener(closed, 0o700) as in_closed,
            unix_listener(open_to_all, 0o777) as in_open,
        ):

            def connect(path):
                with socket.socket(socket.AF_UNIX) as client:
                    client.connect(path)

            found = answer_of(
                settings,
                lambda h: [
                    error_name(lambda: connect(in_closed)),
                    error_name(lambda: connect(in_open)),
                ],
            )
    finally:
        for directory in (closed, open_to_all):
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
            os.rmdir(directory)
    assert found == ["PermissionError:EACCES", "FileNotFoundError:ENOENT"]


def test_a_fit_cannot_signal_or_inspect_the_worker_or_another_fit(settings):
    # another fit, sandboxed, waiting for a byte on a pipe of its own
    release_read, release_write = os.pipe()
    other = os.fork()
    if other == 0:
        try:
            os.close(release_write)
            sandbox.enter(settings, {release_read})
            os.read(release_read, 1)
        finally:
            os._exit(0)
    os.close(release_read)
    try:

        def check(handle):
            worker = os.getppid()
            return {
                "signal worker": error_name(lambda: os.kill(worker, 0)),
                "kill worker": error_name(lambda: os.kill(worker, signal.SIGTERM)),
                "signal other fit": error_name(lambda: os.kill(other, 0)),
                "kill other fit": error_name(lambda: os.kill(other, signal.SIGKILL)),
                "worker's environ": error_name(lambda: open(f"/proc/{worker}/environ").read()),
                "worker's cmdline": error_name(lambda: open(f"/proc/{worker}/cmdline").read()),
                "processes": sorted(int(name) for name in os.listdir("/proc") if name.isdigit()),
                "own pid": os.getpid(),
            }

        found = answer_of(settings, check)
    finally:
        os.write(release_write, b"x")
        os.close(release_write)
        other_status = os.waitpid(other, 0)[1]
        sandbox.cleanup(settings, other)
    for action in ("signal worker", "kill worker", "signal other fit", "kill other fit"):
        assert found[action] == "PermissionError:EPERM", action
    # hidepid: the worker's /proc entries are not even there for the fit
    assert found["worker's environ"] == "FileNotFoundError:ENOENT"
    assert found["worker's cmdline"] == "FileNotFoundError:ENOENT"
    assert found["processes"] == [found["own pid"]]
    assert os.waitstatus_to_exitcode(other_status) == 0  # the other fit lived on


def test_the_environment_holds_no_secrets(settings, monkeypatch):
    secrets = {
        "BUMPS_REMOTE_REDIS_URL": f"redis://:{SECRET}@127.0.0.1:6379/0",
        "REDIS_PASSWORD": SECRET,
        "CELERY_BROKER_URL": f"redis://:{SECRET}@h",
        "JUPYTER_TOKEN": SECRET,
        "JPY_API_TOKEN": SECRET,
        "JUPYTERHUB_API_URL": "http://hub:8081",
        "GITHUB_TOKEN": SECRET,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "my_api_key": SECRET,
        "SSH_AUTH_SOCK": "/tmp/ssh-agent",
        "XDG_RUNTIME_DIR": "/run/user/0",
    }
    for name, value in {**secrets, "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(name, value)
    found = answer_of(settings, lambda h: {"env": dict(os.environ), "cwd": os.getcwd()})
    env = found["env"]
    assert not set(secrets) & set(env)
    assert SECRET not in json.dumps(env)
    assert env["OMP_NUM_THREADS"] == "1" and env["PATH"] == os.environ["PATH"]
    assert env["HOME"] == env["TMPDIR"] == env["TMP"] == env["TEMP"] == found["cwd"] == "/tmp"
    assert env["USER"] == env["LOGNAME"] == "bumps-remote-fit"


PROCESS_FROM_THE_WORKERS_COMMAND = """
import json, os, sys
from jupyter_bumps_remote.worker.fit import sandbox
sandbox.enter(sandbox.SandboxSettings(tmp_root=sys.argv[-1]), {1})
def read(name):
    with open(f"/proc/self/{name}", "rb") as f:
        return f.read().decode(errors="replace")
print(json.dumps({
    "environ": read("environ"), "cmdline": read("cmdline"), "os.environ": dict(os.environ),
    "argv": sys.argv, "orig_argv": sys.orig_argv,
}))
"""


def test_the_command_line_and_the_exec_time_environment_are_scrubbed(tmp_path):
    """What the kernel shows in /proc/self/environ and cmdline is the memory the worker was
    started with, which every fork copies: the secrets there are zeroed."""
    url = f"redis://:{SECRET}@127.0.0.1:6379/0"
    result = subprocess.run(
        [sys.executable, "-c", PROCESS_FROM_THE_WORKERS_COMMAND, "--redis-url", url]
        + ["--password=" + SECRET, "--concurrency", "4", str(tmp_path / "fits")],
        env={**os.environ, "BUMPS_REMOTE_REDIS_URL": url, "JUPYTER_TOKEN": SECRET},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert SECRET not in result.stdout
    assert "--concurrency\x004" in found["cmdline"]  # the rest is left alone
    assert found["argv"][1:5] == ["--redis-url", "<hidden>", "<hidden>", "--concurrency"]
    assert "BUMPS_REMOTE_REDIS_URL" not in found["environ"]
    assert "PATH=" in found["environ"]


def test_only_the_kept_descriptor_is_open(settings, tmp_path, listener):
    extra_file = open(tmp_path / "secret.txt", "w")  # noqa: SIM115 - held across the fork
    connection = socket.create_connection(listener.getsockname())
    pipe = os.pipe()
    held = {extra_file.fileno(), connection.fileno(), *pipe}
    try:

        def check(handle):
            found = {}
            for name in os.listdir("/proc/self/fd"):
                with contextlib.suppress(FileNotFoundError):  # the listing's own
                    found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
            return found

        outcome = sandboxed(settings, check)
    finally:
        extra_file.close()
        connection.close()
        for fd in pipe:
            os.close(fd)
    assert outcome.error is None, outcome.error
    found = {int(fd): target for fd, target in outcome.answer.items()}
    assert found.pop(outcome.reply_fd).startswith("pipe:")
    assert {0, 1, 2} <= set(found)
    # every other number the worker had open is now /dev/null (see sandbox.py: closing
    # them would let a stale Python object close a file that later took its number)
    assert set(found.values()) == {"/dev/null"}, found
    assert held <= set(found)


def test_home_and_tmpdir_are_a_private_tmpfs_that_goes_with_the_fit(settings):
    hosts = Path("/tmp") / f"bumps-remote-test-{uuid.uuid4().hex}"
    hosts.write_text("the host's")
    written = f"written-by-the-fit-{uuid.uuid4().hex}"
    try:

        def check(handle):
            home = os.stat(handle.home)
            with open(os.path.join(os.environ["TMPDIR"], written), "w") as f:
                f.write("x")
            size = os.statvfs("/tmp")
            return {
                "home": [handle.home, home.st_uid, oct(home.st_mode & 0o7777), os.getuid()],
                "sees the host's": os.path.exists(hosts),
                "listing": os.listdir("/tmp"),
                "size mb": size.f_blocks * size.f_frsize // (1024 * 1024),
                "same fs": [os.stat(p).st_dev == home.st_dev for p in ("/var/tmp", "/dev/shm")],
            }

        found = answer_of(settings, check)
    finally:
        hosts.unlink()
    home, owner, mode, uid = found["home"]
    assert (home, owner, mode) == ("/tmp", uid, "0o700")
    assert not found["sees the host's"]
    assert set(found["listing"]) - shown_from_the_hosts_tmp() == {written}
    assert found["size mb"] == settings.max_tmp_mb
    assert found["same fs"] == [True, True]
    assert not (Path("/tmp") / written).exists()  # it was never on the host's disk
    assert not os.path.exists(settings.tmp_root) or not os.listdir(settings.tmp_root)


def test_without_a_mount_namespace_the_pool_process_removes_the_private_directory(tmp_path):
    top = tempfile.mkdtemp(prefix="bumps-remote-test-", dir="/tmp")
    os.chmod(top, 0o711)  # fit users must pass through the directories above tmp_root
    settings = SandboxSettings(tmp_root=os.path.join(top, "fits"), private_mounts=False)
    depth = 1200  # deeper than Python's recursion limit (1000), as a hostile fit can nest

    def check(handle):
        home = os.stat(handle.home)
        for name in ("a", "b"):
            with open(name, "w") as f:
                f.write(name)
        os.mkdir("locked")
        os.chmod("locked", 0)
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")
        with open("deep", "w") as f:
            f.write("x")
        return [handle.home, home.st_uid == os.getuid(), oct(home.st_mode & 0o7777)]

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            write_all(write_end, json.dumps(check(sandbox.enter(settings, {write_end}))).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        data = read_to_end(read_end)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    try:
        assert data, "the fit died"
        home, owned, mode = json.loads(data)
        assert home == sandbox.private_directory(settings, pid) and owned and mode == "0o700"
        assert os.path.isdir(home)  # the fit cannot remove it: it may be killed first
        sandbox.cleanup(settings, pid)
        assert not os.path.lexists(home)
        assert os.listdir(settings.tmp_root) == []
    finally:
        subprocess.run(["rm", "-rf", top], check=False)


def test_filling_the_temporary_directory_is_stopped(settings):
    def check(handle):
        written = 0
        try:
            with open("/tmp/filler", "wb") as f:
                while True:
                    f.write(bytes(1024 * 1024))
                    f.flush()
                    written += 1
        except OSError as e:
            return [written, errno.errorcode[e.errno or 0]]

    found = answer_of(replace(settings, max_tmp_mb=8, max_file_mb=0), check)
    assert found[0] <= 8 and found[1] == "ENOSPC"


def test_a_big_file_is_stopped(settings):
    def check(handle):
        with open("big", "wb", buffering=0) as f:
            f.write(bytes(1024 * 1024))  # up to the limit: fine
            return [os.path.getsize("big"), error_name(lambda: f.write(b"x"))]

    assert answer_of(replace(settings, max_file_mb=1), check) == [1024 * 1024, "OSError:EFBIG"]


def test_a_fork_bomb_is_stopped(settings):
    def check(handle):
        children = []
        try:
            while len(children) < 1000:
                pid = os.fork()
                if pid == 0:
                    time.sleep(DEADLINE)
                    os._exit(0)
                children.append(pid)
            return "not stopped"
        except BlockingIOError:
            return len(children)
        finally:
            for pid in children:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)

    # 20 processes of the fit's user, the fit itself included
    assert answer_of(replace(settings, max_processes=20), check) == 19


def test_a_memory_bomb_is_stopped(settings):
    with open("/proc/self/status") as f:
        size_mb = next(int(line.split()[1]) for line in f if line.startswith("VmSize")) // 1024

    def check(handle):
        try:
            bytearray(1024 * 1024 * 1024)
        except MemoryError:
            return "MemoryError"
        return "allocated 1 GB"

    assert answer_of(replace(settings, max_memory_mb=size_mb + 256), check) == "MemoryError"


def test_cpu_time_is_limited(settings):
    def check(handle):
        while True:
            pass

    outcome = sandboxed(replace(settings, max_cpu_seconds=1), check)
    assert os.waitstatus_to_exitcode(outcome.status) == -signal.SIGXCPU


def test_a_fit_dies_with_its_pool_process(settings):
    """A stands for the worker (a subreaper, as the pool process is for its fits' orphans),
    P for the pool process, F for its fit: P is killed, F must die with it."""
    report_read, report_write = os.pipe()
    worker = os.fork()
    if worker == 0:
        try:
            os.close(report_read)
            signal.alarm(int(DEADLINE))
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            ready_read, ready_write = os.pipe()
            pool = os.fork()
            if pool == 0:
                if os.fork() == 0:  # the fit
                    sandbox.enter(settings, {ready_write})
                    os.write(ready_write, str(os.getpid()).encode())
                    time.sleep(DEADLINE)
                    os._exit(0)
                time.sleep(DEADLINE)
                os._exit(0)
            os.close(ready_write)
            fit = int(os.read(ready_read, 32))
            os.kill(pool, signal.SIGKILL)
            statuses = dict(os.waitpid(-1, 0) for _ in range(2))  # the pool and the orphan
            write_all(report_write, json.dumps(statuses[fit]).encode())
        finally:
            os._exit(0)
    os.close(report_write)
    try:
        data = read_to_end(report_read)
    finally:
        os.close(report_read)
        os.waitpid(worker, 0)
    assert data, "the stand-in worker did not report"
    assert os.waitstatus_to_exitcode(json.loads(data)) == -signal.SIGKILL


def test_a_fit_can_still_use_a_process_pool_and_threads(settings):
    """`parallel=N` runs a multiprocessing pool: its semaphores live in /dev/shm, which is
    the fit's private tmpfs; threads count against max_processes like processes."""

    def check(handle):
        with multiprocessing.get_context("fork").Pool(2) as pool:
            processes = pool.map(abs, [-1, -2, -3])
        with ThreadPool(4) as pool:
            threads = pool.map(abs, [-4, -5])
        return [processes, threads]

    assert answer_of(settings, check) == [[1, 2, 3], [4, 5]]


def test_what_applies_here(settings):
    """Every protection applies on this machine; a Python environment the fits' user cannot
    read is the one thing that may be named."""
    unreadable = tempfile.mkdtemp(prefix="bumps-remote-test-")  # 0700, root's
    sys.path.append(unreadable)
    try:
        warnings = sandbox.what_applies(settings)
    finally:
        sys.path.remove(unreadable)
        os.rmdir(unreadable)
    assert [w for w in warnings if not w.startswith("python: ")] == []
    assert any(w.startswith("python: ") and unreadable in w for w in warnings)


def test_what_applies_names_a_setting_that_makes_every_fit_fail(settings):
    warnings = sandbox.what_applies(replace(settings, fit_user="no-such-user-here"))
    assert warnings == [
        "every fit will fail: fit_user='no-such-user-here': no such user on this machine; "
        "create it, or leave fit_user unset to give each fit a uid of its own"
    ]


def test_a_worker_that_is_not_root_still_gets_namespaces_and_limits(listener):
    """Not root: the fit keeps the worker's user (and says so), but an unprivileged user
    namespace still gives it no network, a private /tmp and a process count of its own."""
    port = listener.getsockname()[1]
    report_read, report_write = os.pipe()
    worker = os.fork()
    if worker == 0:
        try:
            os.close(report_read)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            settings = SandboxSettings(max_processes=20)  # tmp_root: nobody's own

            def check(handle):
                children = []
                try:
                    while len(children) < 1000:
                        pid = os.fork()
                        if pid == 0:
                            time.sleep(DEADLINE)
                            os._exit(0)
                        children.append(pid)
                except BlockingIOError:
                    pass
                finally:
                    for pid in children:
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                return {
                    "uid": os.getuid(),
                    "interfaces": [name for _, name in socket.if_nameindex()],
                    "host's 127.0.0.1": error_name(
                        lambda: socket.create_connection(("127.0.0.1", port), timeout=5)
                    ),
                    "tmp": [os.stat("/tmp").st_mode & 0o777, os.listdir("/tmp")],
                    "CapEff": status_lines("CapEff")["CapEff"],
                    "children": len(children),
                }

            outcome = sandboxed(settings, check)
            report = {
                "warnings": sandbox.what_applies(settings),
                "answer": outcome.answer,
                "error": outcome.error,
            }
            write_all(report_write, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(report_write)
    try:
        data = read_to_end(report_read)
    finally:
        os.close(report_read)
        os.waitpid(worker, 0)
    assert data, "the unprivileged worker did not report"
    report = json.loads(data)
    assert report["error"] is None, report["error"]
    topics = [w.split(":")[0] for w in report["warnings"]]
    assert [t for t in topics if t != "python"] == ["user", "processes"], report["warnings"]
    assert "(nobody)" in report["warnings"][0]
    found = report["answer"]
    assert found["uid"] == NOBODY
    assert found["interfaces"] == ["lo"]
    assert found["host's 127.0.0.1"] == "ConnectionRefusedError:ECONNREFUSED"
    mode, listing = found["tmp"]
    assert mode == 0o700 and set(listing) <= shown_from_the_hosts_tmp(), found["tmp"]
    assert int(found["CapEff"], 16) == 0
    # counted in the fit's user namespace only: nobody's other processes (the stand-in
    # worker) take none of its 20
    assert found["children"] == 19


def test_secret_names_and_arguments():
    for name in ("BUMPS_REMOTE_X", "jupyter_token", "JPY_COOKIE_SECRET", "REDIS_HOST"):
        assert sandbox.is_secret_name(name), name
    for name in ("CELERY_X", "AWS_SESSION_TOKEN", "DB_PASSWD", "api_key", "SSH_AUTH_SOCK"):
        assert sandbox.is_secret_name(name), name
    for name in ("PATH", "HOME", "OMP_NUM_THREADS", "LD_LIBRARY_PATH", "SAS_OPENCL"):
        assert not sandbox.is_secret_name(name), name
    args = ["worker", "--redis-url", "redis://h", "--token=x", "--concurrency", "2"]
    args += ["postgres://u:p@h/db", "http://example.org/a@b", "--verbose"]
    assert sandbox.secret_arguments(args) == {2, 3, 6}


def test_settings_name_what_is_wrong():
    with pytest.raises(ValueError, match="network='off': use 'none'"):
        SandboxSettings(network="off")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="fit_user=root"):
        SandboxSettings(fit_user="root")
    with pytest.raises(ValueError, match="max_processes=-1"):
        SandboxSettings(max_processes=-1)
    with pytest.raises(ValueError, match="tmp_root='tmp'"):
        SandboxSettings(tmp_root="tmp")
    defaults = SandboxSettings()
    assert defaults.max_processes >= (machine.usable_cpus() + 1) * 2
    assert 0 < defaults.max_memory_mb < machine.memory_mb()
