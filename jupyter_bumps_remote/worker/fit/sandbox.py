"""The operating-system sandbox of one fit process: a user of its own, no network, private
temporary files, resource limits, and nothing inherited but the descriptors it is given.

A fit process runs the user's code (a payload is code by design) and is forked from a pool
process that holds the worker's secrets. `enter` is called in the forked child before any
byte of the payload is decoded; the pool process calls `cleanup` once the child is gone;
the worker calls `what_applies` once at start-up and says what it returns.

Decisions, and why:

- **A user per fit** (as root): uid = `fit_uid_base` + the fit process's pid, with no
  account behind it. A shared user (a system user `bumps-remote-fit`, or `nobody`) would let
  one fit signal another, read another's temporary files and take the process slots of all
  (RLIMIT_NPROC counts per user); `nobody` is also shared with other daemons of the host,
  and creating an account edits /etc/passwd, which is read-only in many containers. A pid
  is unique among live processes, and a fit's pid stays taken until its process group is
  gone, so two live fits never share a uid. The default base lies in a range that no
  distribution assigns (above systemd's container ranges, below 2^31). `fit_user` sets one
  named user for every fit instead (for example one allowed to read a shared data mount).
- **Descriptors** other than `keep_fds` are pointed at /dev/null rather than closed,
  0, 1 and 2 included: Python objects copied from the pool process (its Redis client's
  socket, Celery's pipes) still hold those numbers, and one garbage-collected later would
  close whatever file had taken its number meanwhile. The worker's stdout and stderr may be
  a log file or the journal, which a fit must not write into; output capture gives the fit
  pipes of its own (dup2 them onto 1 and 2 and list them in `keep_fds`).
- **Namespaces**: as root, new network, mount and IPC namespaces before the user switch;
  where that is refused (root without CAP_SYS_ADMIN, as in a container) or the worker is
  not root, an unprivileged user namespace does the same after it. The network namespace
  has only `lo`, brought up. The mount namespace puts a tmpfs of `max_tmp_mb` on /tmp (also
  bound on /var/tmp and /dev/shm), owned by the fit's user and mode 0700, which is HOME and
  TMPDIR: the host's temporary directories are out of sight, their total size is capped, and
  the files vanish with the fit's last process. As root, /proc is mounted again with
  hidepid=2: a fit sees only its own processes, not the worker's command line.
  Without a mount namespace, HOME and TMPDIR are a 0700 directory under `tmp_root`, which
  the pool process removes with `cleanup` (the fit cannot: it may be killed).
- **What a fit must read** (`needed_paths`: sys.path, Python's prefixes, the directories of
  loaded extension modules and libraries, `readable_paths`) may lie under a directory its
  user cannot pass, such as a 0700 home holding pyenv or conda: every import the pool
  process had not done before the fork would fail. As root, in the fit's mount namespace,
  each such closed directory is covered by an empty read-only tmpfs into which just the
  needed paths are bound back, read-only (bubblewrap's way): the rest of that home (~/.ssh,
  Jupyter's runtime files with their tokens) stays out of sight, and no fit can change what
  the next one imports, even where a directory is writable by all (those are bound read-only
  onto themselves). The bind sources are opened before anything is covered and bound through
  /proc/self/fd. Without root's mount namespace the fit sees the host's modes: the start-up
  check names what it cannot read.
- **The environment** loses every variable that may hold a credential or address the
  worker's services; the copy the kernel shows in /proc/self/environ (the exec-time block)
  and the worker's command-line arguments that carry a credential are zeroed too. The
  fit's memory is still a copy of the pool process's, Redis URL included: what keeps that
  harmless is that the sandbox leaves no route to Redis (no network, no access to its unix
  socket by file permissions).

Call `enter` in a single-threaded process (a fresh fork): the kernel refuses a user
namespace to a threaded one, and PR_SET_PDEATHSIG fires when the forking *thread* ends.

Standard library and ctypes only (Linux system calls Python 3.11 does not wrap).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import pwd
import re
import resource
import select
import signal
import socket
import stat
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Literal

from ...shared.machine import (
    default_max_cpu_seconds,
    default_max_memory_mb,
    default_max_processes,
    memory_mb,
)
from ...shared.settings import DEFAULT_FIT_UID_BASE

# <sched.h>, <sys/mount.h>, <linux/prctl.h>, <linux/sockios.h>, <net/if.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_RDONLY, MS_REMOUNT, MS_NOATIME, MS_NODIRATIME = 1, 32, 1024, 2048
MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 4096, 16384, 1 << 18, 1 << 21
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = "16sH22x"  # struct ifreq: the name, then ifr_flags in a 24-byte union
_CAPABILITY_VERSION_3 = 0x20080522

# /proc/sys/kernel/pid_max can be at most 2^22: base + pid stays below 2^31 - 1
_PID_MAX_LIMIT = 1 << 22
# Name prefixes and parts of variables a fit never sees (compared in upper case)
SECRET_PREFIXES = ("BUMPS_REMOTE_", "JUPYTER", "JPY_", "REDIS", "CELERY")
SECRET_PARTS = ("TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "CREDENTIAL", "AUTH", "COOKIE")
# Addresses of the worker user's session services, meaningless to a fit
HOST_SESSION_VARIABLES = ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
_CREDENTIAL_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@]*@", re.IGNORECASE)
# The fit's own in its mount namespace: nothing of the host's there can be shown to it
_PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/proc")
# What of a Python prefix that holds the worker's home (./configure --prefix=$HOME) a fit
# needs: the whole prefix would be the whole home
_PREFIX_PARTS = ("bin", "include", "lib", "lib64", "share")
# A shared object's path at the end of a line of /proc/self/maps (an extension module,
# libopenblas.so.0): the directories of other mapped files (data the worker maps) are none
# of a fit's business
_SHARED_OBJECT = re.compile(rb" (/[^\n]*\.so(?:\.[0-9]+)*)$", re.MULTILINE)
_UNREADABLE_FIX = (
    "make it readable by all (chmod o+rX on it and o+x on the directories above), or set "
    "fit_user to a user who can read it"
)


class SandboxError(RuntimeError):
    """The fit process cannot be made safe to run untrusted code: it must not go on."""


def default_max_tmp_mb() -> int:
    """1 GB, less on a small machine: the private /tmp is a tmpfs, held in memory."""
    return max(64, min(1024, memory_mb() // 16))


def default_tmp_root() -> str:
    return os.path.join(tempfile.gettempdir(), f"bumps-remote-fits-{os.geteuid()}")


@dataclass(frozen=True)
class SandboxSettings:
    """How one fit process is confined. Limits are per process (a fit's mapper processes
    get each their own), 0 meaning none.

    - `fit_user`: None (the default) gives each fit a uid of its own when the worker runs as
      root (see `fit_uid_base`); a name or uid runs every fit as that one user instead, which
      lets fits signal each other and share `max_processes`. Never root. A worker not
      started as root cannot switch users: fits run as its own user (`what_applies` says so).
    - `fit_uid_base`: a fit's uid is this plus its pid (up to 2^22); the range must hold no
      account, and be mapped where the worker runs in a user namespace (/proc/self/uid_map).
    - `network`: "none", a network namespace with only loopback; "host", the host's network.
    - `max_memory_mb`: address space (RLIMIT_AS), default half the machine's memory. It
      counts reserved, not used, memory; the total of all fits is the cgroup's job
      (systemd's MemoryMax= on the worker's unit).
    - `max_cpu_seconds`: CPU time (RLIMIT_CPU; SIGXCPU, then SIGKILL a second later),
      default 12 h times the machine's CPUs: the worker's time limit stops a fit first.
    - `max_processes`: processes and threads of the fit's user (RLIMIT_NPROC), default
      (CPUs + 1) x (CPUs + 4) + 32: a fit with `parallel` = CPUs fits with room to spare.
      With a shared `fit_user` it counts all fits together; for a worker that is not root
      and has no user namespaces it counts the worker's own processes too.
    - `max_file_mb`: size of one file written (RLIMIT_FSIZE; the write fails with EFBIG),
      default 1 GB.
    - `max_tmp_mb`: size of the private tmpfs that is /tmp, HOME and TMPDIR (ENOSPC when
      full), default 1 GB or a 16th of the machine's memory if less.
    - `tmp_root`: where the private directories go when no mount namespace is possible:
      created if missing, and it must be owned by the worker's user and writable by no one
      else. Default: the system's temporary directory, /tmp/bumps-remote-fits-<uid>.
    - `private_mounts`: False skips the mount namespace (HOME and TMPDIR under `tmp_root`).
    - `readable_paths`: absolute paths (directories or files) fits read besides the Python
      environment, e.g. a model cache or a data directory under the worker's home. Where a
      directory above one of these, or above the Python environment, is closed to the fit's
      user, the fit sees that directory as an empty read-only one holding just the needed
      paths, bound read-only (as root, with `private_mounts`).
    """

    fit_user: str | int | None = None
    fit_uid_base: int = DEFAULT_FIT_UID_BASE
    network: Literal["none", "host"] = "none"
    max_memory_mb: int = field(default_factory=default_max_memory_mb)
    max_cpu_seconds: int = field(default_factory=default_max_cpu_seconds)
    max_processes: int = field(default_factory=default_max_processes)
    max_file_mb: int = 1024
    max_tmp_mb: int = field(default_factory=default_max_tmp_mb)
    tmp_root: str = field(default_factory=default_tmp_root)
    private_mounts: bool = True
    readable_paths: tuple[str, ...] = ()

    def __post_init__(self):
        if isinstance(self.readable_paths, str):
            raise ValueError(
                f"readable_paths={self.readable_paths!r}: give a list of absolute paths"
            )
        object.__setattr__(self, "readable_paths", tuple(self.readable_paths))
        for path in self.readable_paths:
            if not isinstance(path, str) or not os.path.isabs(path):
                raise ValueError(f"readable_paths: {path!r} is not an absolute path")
        if self.network not in ("none", "host"):
            raise ValueError(f"network={self.network!r}: use 'none' (loopback only) or 'host'")
        for name in ("max_memory_mb", "max_cpu_seconds", "max_processes", "max_file_mb"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: use 0 (no limit) or more")
        if self.max_tmp_mb < 0:
            raise ValueError(f"max_tmp_mb={self.max_tmp_mb}: use 0 (no cap) or more")
        if not 0 < self.fit_uid_base <= 2**31 - 2 - _PID_MAX_LIMIT:
            raise ValueError(
                f"fit_uid_base={self.fit_uid_base}: use a base above 0 with room for "
                f"{_PID_MAX_LIMIT} uids below 2^31 (default {DEFAULT_FIT_UID_BASE})"
            )
        if self.fit_user in (0, "root"):
            raise ValueError("fit_user=root: fits must not run as root; leave it unset")
        if not os.path.isabs(self.tmp_root):
            raise ValueError(f"tmp_root={self.tmp_root!r}: use an absolute path")


@dataclass(frozen=True)
class SandboxHandle:
    """What `enter` made of the fit process."""

    uid: int
    gid: int
    home: str  # HOME and TMPDIR
    own_network: bool  # in a network namespace of its own
    private_mounts: bool  # /tmp is its own tmpfs
    missing: tuple[str, ...]  # protections that could not apply, one sentence each


def enter(settings: SandboxSettings, keep_fds: set[int]) -> SandboxHandle:
    """Confine this process (a fresh fork, single-threaded) for good: on return it runs as
    the fit's user with no capability, holds only `keep_fds` (every other descriptor, 0, 1
    and 2 included unless kept, is /dev/null), a scrubbed environment, and the limits of
    `settings`. Raises SandboxError when it cannot leave root: the caller must then exit
    without decoding anything."""
    parent = os.getppid()
    root = os.geteuid() == 0
    missing: list[str] = []
    uid, gid, user = _fit_identity(settings, root)
    _only_fds(keep_fds)
    scrub_environment()
    flags = CLONE_NEWIPC
    flags |= CLONE_NEWNET if settings.network == "none" else 0
    flags |= CLONE_NEWNS if settings.private_mounts else 0
    network = mounts = False
    home = None
    if root:
        try:
            _unshare(flags)
            privileged = True
        except OSError:  # no CAP_SYS_ADMIN (a container): a user namespace after the switch
            privileged = False
        if privileged:
            network = bool(flags & CLONE_NEWNET) and _loopback_up(missing)
            # HOME is still the worker's here, as needed_paths wants
            needed = needed_paths(settings.readable_paths) if flags & CLONE_NEWNS else []
            mounts = bool(flags & CLONE_NEWNS) and _private_mounts(
                settings, uid, gid, hide_processes=True, missing=missing, needed=needed
            )
            if mounts:
                _show_needed_paths(_plan_view(needed, uid, gid), missing)
        if not mounts:  # made while root: tmp_root belongs to root
            home = _private_directory(settings, uid, gid)
        _switch_user(uid, gid, settings)
        if not privileged:
            _, network, mounts = _user_namespace(settings, flags, uid, gid, missing)
    else:
        if settings.fit_user is not None and _uid_of(settings.fit_user) != uid:
            missing.append(
                f"user: fit_user={settings.fit_user!r} does not apply: only a worker started "
                f"as root can switch users"
            )
        missing.append(
            f"user: fits run as the worker's own user ({user}), since only root can switch "
            f"users: a fit can signal the worker and other fits, and read or change what that "
            f"user can. Start the worker as root to give each fit a user of its own"
        )
        made, network, mounts = _user_namespace(settings, flags, uid, gid, missing)
        if not made and settings.max_processes:
            missing.append(
                "process limit: max_processes counts every process and thread of the worker's "
                "user, the worker's own included (without a user namespace of its own a fit "
                "shares that count)"
            )
        if not mounts:
            home = _private_directory(settings, uid, gid)
    if settings.network == "none" and not network:
        missing.append(
            "network: fits share the host's network, and can reach Redis and whatever else "
            "the host can: no network namespace could be made (as root that takes "
            "CAP_SYS_ADMIN; otherwise unprivileged user namespaces: user.max_user_namespaces, "
            "kernel.unprivileged_userns_clone, a container's seccomp profile)"
        )
    if mounts:
        home = "/tmp"
    assert home is not None
    try:
        os.chdir(home)
    except PermissionError:
        raise SandboxError(
            f"the fit's user (uid {uid}) cannot enter its directory {home}: every directory "
            f"above tmp_root ({settings.tmp_root}) must be searchable by others (chmod o+x)"
        ) from None
    _set_home(home, user)
    _limits(settings)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    # A uid of its own: its processes may inspect each other as usual. A shared one: no
    # other fit of that user may ptrace it or read its /proc files.
    _prctl(PR_SET_DUMPABLE, 1 if root and settings.fit_user is None else 0)
    # Set last: changing credentials clears it
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the pool process died before the line above
        os.kill(os.getpid(), signal.SIGKILL)
    return SandboxHandle(uid, gid, home, network, mounts, tuple(missing))


def cleanup(settings: SandboxSettings, pid: int) -> None:
    """In the pool process, once the fit process `pid` and everything it started are gone:
    remove its private directory (there is none on disk when it had a private tmpfs)."""
    path = private_directory(settings, pid)
    if os.path.lexists(path):
        _remove_tree(path)


def what_applies(settings: SandboxSettings, timeout: float = 30.0) -> list[str]:
    """The protections that cannot apply on this machine, one sentence each (empty when all
    do), for the worker to say once at start-up. Finds out by confining a throwaway child,
    which also checks that the fit's user can read the Python environment."""
    if sys.platform != "linux":
        return ["the fit sandbox needs Linux: fits run unconfined, as the worker's user"]
    python = [path for path in needed_paths(settings.readable_paths) if os.path.exists(path)]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the probe
        code = 1
        try:
            os.close(read_end)
            try:
                report = {"missing": list(enter(settings, {write_end}).missing)}
                unreadable = [path for path in python if not _readable(path)]
                if unreadable:
                    report["missing"].append(
                        f"python: the fits' user cannot read {', '.join(unreadable)} (on "
                        f"sys.path, a prefix of Python or in readable_paths): a fit fails on "
                        f"any import the worker had not done before it forked. Make the "
                        f"Python environment readable by all (chmod o+rX on it and o+x on the "
                        f"directories above), or set fit_user to a user who can read it"
                    )
            except SandboxError as e:
                report = {"error": str(e)}
            _write_all(write_end, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        data = read_to_end(read_end, timeout)
    finally:
        os.close(read_end)
        if data is None:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        cleanup(settings, pid)
    if not data:
        return ["the sandbox probe died before it answered: fits may not start at all"]
    report = json.loads(data)
    if "error" in report:
        return [f"every fit will fail: {report['error']}"]
    return report["missing"]


def _readable(path: str) -> bool:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb"):
                pass
    except OSError:
        return False
    return True


def private_directory(settings: SandboxSettings, pid: int) -> str:
    return os.path.join(settings.tmp_root, f"fit-{pid}")


def is_secret_name(name: str) -> bool:
    """A variable that may hold a credential or reach the worker's services."""
    upper = name.upper()
    return (
        upper.startswith(SECRET_PREFIXES)
        or any(part in upper for part in SECRET_PARTS)
        or upper in HOST_SESSION_VARIABLES
    )


def secret_arguments(args: list[str]) -> set[int]:
    """Indices of command-line arguments that carry a credential: a URL with a user or
    password, `--option=value` or the value after `--option` for an option named like a
    secret or a URL (`--redis-url`)."""
    hidden: set[int] = set()
    value_follows = False
    for i, arg in enumerate(args):
        option, has_value, _ = arg.partition("=")
        if value_follows or _CREDENTIAL_URL.search(arg):
            hidden.add(i)
        elif arg.startswith("-") and has_value and _secret_option(option):
            hidden.add(i)
        value_follows = arg.startswith("-") and not has_value and _secret_option(arg)
    return hidden


def scrub_environment() -> None:
    """Remove secret variables from os.environ (and so the C environment), zero them in the
    exec-time block that /proc/self/environ shows, and hide secret arguments in sys.argv,
    sys.orig_argv and /proc/self/cmdline."""
    for name in [name for name in os.environ if is_secret_name(name)]:
        del os.environ[name]
    for args in (sys.argv, getattr(sys, "orig_argv", [])):
        for i in secret_arguments(args):
            args[i] = "<hidden>"
    try:
        _zero_exec_block()
    except (OSError, ValueError, IndexError):  # no /proc: nothing shows the block either
        pass


def own_uid_of(settings: SandboxSettings, pid: int) -> int | None:
    """The uid the fit process `pid` runs as when that uid is the fit's alone (a worker
    started as root, no shared `fit_user`): every process of it belongs to that fit."""
    if os.geteuid() != 0 or settings.fit_user is not None:
        return None
    return settings.fit_uid_base + pid


def _secret_option(option: str) -> bool:
    name = option.lstrip("-").upper().replace("-", "_")
    return bool(name) and (is_secret_name(name) or "URL" in name)


def _fit_identity(settings: SandboxSettings, root: bool) -> tuple[int, int, str]:
    """(uid, gid, user name) the fit runs as."""
    if not root:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return uid, os.getegid(), name
    if settings.fit_user is None:
        uid = settings.fit_uid_base + os.getpid()
        return uid, uid, "bumps-remote-fit"
    try:
        entry = (
            pwd.getpwuid(settings.fit_user)
            if isinstance(settings.fit_user, int)
            else pwd.getpwnam(settings.fit_user)
        )
    except KeyError:
        if isinstance(settings.fit_user, int):
            return settings.fit_user, settings.fit_user, str(settings.fit_user)
        raise SandboxError(
            f"fit_user={settings.fit_user!r}: no such user on this machine; create it, or leave "
            f"fit_user unset to give each fit a uid of its own"
        ) from None
    if entry.pw_uid == 0:
        raise SandboxError(f"fit_user={settings.fit_user!r} is root: fits must not run as root")
    return entry.pw_uid, entry.pw_gid, entry.pw_name


def _uid_of(user: str | int) -> int | None:
    if isinstance(user, int):
        return user
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _switch_user(uid: int, gid: int, settings: SandboxSettings) -> None:
    """Leave root for good (all three uids change, so every capability goes)."""
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as e:
        raise SandboxError(
            f"cannot switch the fit process to uid {uid}, gid {gid}: {e}"
            f"{_unmapped_hint(e, settings)}"
        ) from e
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise SandboxError(f"the switch to uid {uid}, gid {gid} did not take")


def _unmapped_hint(error: OSError, settings: SandboxSettings) -> str:
    """EINVAL from a uid change or chown: the uid does not exist in this user namespace (a
    rootless container, Docker's userns-remap)."""
    if error.errno != errno.EINVAL:
        return ""
    return (
        f": the uid is not mapped in the worker's user namespace (/proc/self/uid_map); set "
        f"BUMPS_REMOTE_FIT_UID_BASE (now {settings.fit_uid_base}) to the start of a mapped "
        f"range of 2^22 uids, or BUMPS_REMOTE_FIT_USER to a user that exists there"
    )


def _only_fds(keep: set[int]) -> None:
    first = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    # above 2: were 0, 1 or 2 closed, /dev/null would take one, and be closed below
    null = fcntl.fcntl(first, fcntl.F_DUPFD_CLOEXEC, 3)
    if first > 2:
        os.close(first)
    for fd in _open_fds() | {0, 1, 2}:
        if fd not in keep and fd != null:
            os.dup2(null, fd, inheritable=fd <= 2)
    os.close(null)


def _open_fds() -> set[int]:
    try:
        listed = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc: try every number the limit allows
        listed = range(min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 65536))
    found = set()
    for fd in listed:
        try:
            os.fstat(fd)  # the listing's own descriptor is closed by now
        except OSError:
            continue
        found.add(fd)
    return found


def _zero_exec_block() -> None:
    """The argument and environment strings the worker was started with stay in its memory
    (copied into every fork), and the kernel shows them as /proc/self/cmdline and environ.
    Through /proc/self/mem: a wrong address is an error there, not a crash."""
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    # fields 48 to 51 of proc(5), counted from 1; the list starts at field 3
    arg_start, arg_end, env_start, env_end = (int(v) for v in fields[45:49])
    memory = os.open("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC)
    try:
        for start, end, secret in (
            (arg_start, arg_end, secret_arguments),
            (env_start, env_end, _secret_variables),
        ):
            if not start < end:
                continue
            raws = os.pread(memory, end - start, start).split(b"\0")
            offset = 0
            hidden = secret([raw.decode(errors="replace") for raw in raws])
            for i, raw in enumerate(raws):
                if i in hidden:
                    os.pwrite(memory, bytes(len(raw)), start + offset)
                offset += len(raw) + 1
    finally:
        os.close(memory)


def _secret_variables(entries: list[str]) -> set[int]:
    return {i for i, entry in enumerate(entries) if is_secret_name(entry.partition("=")[0])}


def _user_namespace(
    settings: SandboxSettings, flags: int, uid: int, gid: int, missing: list[str]
) -> tuple[bool, bool, bool]:
    """Namespaces without root: a user namespace mapping only the fit's own uid, which owns
    the new network and mount namespaces. Returns (made, own network, private mounts)."""
    try:
        _unshare(CLONE_NEWUSER | flags)
    except OSError as e:
        if flags & CLONE_NEWNS:
            missing.append(_no_mounts(settings, f"no user namespace: {e.strerror}"))
        return False, False, False
    _prctl(PR_SET_DUMPABLE, 1)  # else /proc/self/uid_map belongs to root (after setuid)
    for name, text in (
        ("setgroups", "deny"),  # required before an unprivileged gid_map
        ("uid_map", f"{uid} {uid} 1"),
        ("gid_map", f"{gid} {gid} 1"),
    ):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    network = bool(flags & CLONE_NEWNET) and _loopback_up(missing)
    mounts = bool(flags & CLONE_NEWNS) and _private_mounts(
        settings, uid, gid, hide_processes=False, missing=missing
    )
    if mounts:
        missing.append(
            "processes: fits can list the host's processes and read their command lines in "
            "/proc (a private /proc takes root): pass secrets in the environment, never as "
            "arguments"
        )
    _drop_capabilities()  # those the creator of a user namespace holds within it
    return True, network, mounts


def _loopback_up(missing: list[str]) -> bool:
    """The new network namespace has `lo`, down: bring it up for code that talks to itself
    over 127.0.0.1. True: the namespace exists (even if `lo` stayed down)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            current = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
            flags = struct.unpack_from("H", current, 16)[0]
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))
    except OSError as e:
        missing.append(f"loopback: 127.0.0.1 is down in the fits' network namespace ({e})")
    return True


def _private_mounts(
    settings: SandboxSettings,
    uid: int,
    gid: int,
    hide_processes: bool,
    missing: list[str],
    needed: list[str] | None = None,
) -> bool:
    """A tmpfs of the fit's own on /tmp, /var/tmp and /dev/shm; as root, a /proc that shows
    the fit only its own processes. False when the tmpfs could not be mounted. `needed`:
    needed_paths(), when the caller has it already (it costs milliseconds)."""
    if needed is None:
        needed = needed_paths(settings.readable_paths)
    hidden = _needed_paths_in_temporary_dirs(needed)  # opened before the tmpfs hides them
    try:
        try:
            # nothing mounted here may propagate back to the host's namespace
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            options = f"size={settings.max_tmp_mb}m,mode=0700,uid={uid},gid={gid}"
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, options)
        except OSError as e:
            missing.append(_no_mounts(settings, f"mounting a tmpfs failed: {e.strerror}"))
            return False
        for path in ("/var/tmp", "/dev/shm"):
            if os.path.isdir(path) and not os.path.islink(path):
                try:
                    _mount("/tmp", path, None, MS_BIND)
                except OSError as e:
                    missing.append(f"temporary files: fits see the host's {path} ({e.strerror})")
        _bind_back(hidden, missing)
    finally:
        for source in hidden.values():
            os.close(source)
    if hide_processes:
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
        except OSError as e:
            missing.append(
                f"processes: fits can list the host's processes and read their command lines "
                f"in /proc (mounting a private /proc failed: {e.strerror}): pass secrets in "
                f"the environment, never as arguments"
            )
    return True


def _needed_paths_in_temporary_dirs(needed: list[str]) -> dict[str, int]:
    """What the fit must read that lies in /tmp, /var/tmp or /dev/shm (a checkout and its
    venv cloned under /tmp), which the private tmpfs would hide: the outermost such paths,
    each opened (O_PATH) to be bound back once the tmpfs is there."""
    tops = [os.path.realpath(path) for path in _PRIVATE_DIRS if path != "/proc"]
    found: set[str] = set()
    for path in needed:
        real = os.path.realpath(path)
        if real not in tops and any(_within(real, top) for top in tops) and os.path.exists(real):
            found.add(real)
    outermost = [p for p in found if not any(q != p and _within(p, q) for q in found)]
    opened: dict[str, int] = {}
    for path in sorted(outermost):
        with contextlib.suppress(OSError):  # gone meanwhile: nothing to show
            opened[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
    return opened


def _bind_back(sources: dict[str, int], missing: list[str]) -> None:
    """Show each of `sources` at its own path in the fit's new /tmp, read-only; the
    directories made above it are root's (0755): the fit passes them, cannot write there."""
    bound = []
    for path, source in sources.items():
        try:
            _make_directories(os.path.dirname(path))
            if stat.S_ISDIR(os.fstat(source).st_mode):
                _make_directories(path)
            elif not os.path.lexists(path):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            _mount(f"/proc/self/fd/{source}", path, None, MS_BIND | MS_REC)
            bound.append(path)
        except OSError as e:
            missing.append(f"python: fits cannot read {path} ({e.strerror}): {_UNREADABLE_FIX}")
    _read_only(bound, missing)


def _no_mounts(settings: SandboxSettings, reason: str) -> str:
    return (
        f"temporary files: fits write under {settings.tmp_root} on disk, with no cap on their "
        f"total size, see the host's /tmp, /var/tmp and /dev/shm, and can read other "
        f"processes' command lines in /proc ({reason})"
    )


def needed_paths(extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """What a fit reads besides its own /tmp: every sys.path entry, Python's prefixes (the
    interpreter, its shared libraries and data), the directories of the shared objects this
    process has loaded (extension modules and the libraries they link), then `extra`
    (readable_paths). Absolute, without repeats; some may not exist."""
    paths = [path for path in sys.path if path]  # "": the working directory, the fit's /tmp
    homes = {home for home in (os.environ.get("HOME"), _home_of(os.geteuid())) if home}
    for prefix in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix):
        if any(_within(os.path.abspath(home), os.path.abspath(prefix)) for home in homes):
            paths += [os.path.join(prefix, part) for part in _PREFIX_PARTS]
        else:
            paths.append(prefix)
    paths += _loaded_library_directories()
    paths += extra
    return list(dict.fromkeys(os.path.abspath(path) for path in paths))


def _loaded_library_directories() -> list[str]:
    """From the kernel's list of this process's mappings, rather than each module's
    __file__: in a fresh fork, touching every module object copies the pages they lie on
    (their reference counts change), many times the cost of this one read."""
    try:
        with open("/proc/self/maps", "rb") as f:
            mapped = _SHARED_OBJECT.findall(f.read())
    except OSError:  # no /proc: sys.path holds the usual places of extension modules
        return []
    # each library is mapped in several segments: its path repeats
    return list(dict.fromkeys(os.fsdecode(os.path.dirname(path)) for path in dict.fromkeys(mapped)))


def _home_of(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:
        return None


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _ancestors(path: str) -> list[str]:
    """The directories above `path`, from the top, "/" left out."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _resolve(
    path: str, links: dict[str, str], infos: dict[str, os.stat_result | None]
) -> str | None:
    """`path` with every symbolic link resolved (None if it does not exist); each link met
    on the way goes into `links` (its own path, without links, -> its target): a fit that
    uses the path as written must find them too. `infos` keeps what lstat found for each
    path without links, shared by all the paths of a plan (most share their first parts)."""
    parts = path.strip("/").split("/")
    current = "/"
    hops = 0
    while parts:
        name = parts.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        if candidate not in infos:
            try:
                infos[candidate] = os.lstat(candidate)
            except OSError:
                infos[candidate] = None
        info = infos[candidate]
        if info is None:
            return None
        if stat.S_ISLNK(info.st_mode):
            hops += 1
            if hops > 40:  # the kernel's limit (ELOOP)
                return None
            target = os.readlink(candidate)
            links[candidate] = target
            if target.startswith("/"):
                current = "/"
            parts[:0] = target.split("/")
            continue
        current = candidate
    return current


@dataclass(frozen=True)
class _ViewPlan:
    """How the fit's mount namespace shows it what it must read."""

    covers: tuple[str, ...]  # directories closed to the fit: an empty read-only tmpfs on each
    binds: tuple[str, ...]  # bound back onto themselves, read-only (a cover above, or writable)
    links: dict[str, str]  # symbolic links recreated in a cover: path -> target


def _plan_view(paths: list[str], uid: int, gid: int) -> _ViewPlan:
    """Which directories to cover and which paths to bind so that uid/gid can read `paths`
    and nothing else below a directory it could not pass before."""
    infos: dict[str, os.stat_result | None] = {}  # lstat, which is stat without links
    found_links: dict[str, str] = {}
    private = [_resolve(path, found_links, infos) or path for path in _PRIVATE_DIRS]
    found_links.clear()
    needs: dict[str, None] = {}
    for path in paths:
        real = _resolve(path, found_links, infos)
        if real is not None and not any(_within(real, top) for top in private):
            needs[real] = None

    def info_of(path: str) -> os.stat_result:
        info = infos.get(path)
        if info is None:
            info = infos[path] = os.stat(path)
        return info

    def may(path: str, what: int) -> bool:  # what: 1 pass (x), 2 write (w), 4 read (r)
        info = info_of(path)
        shift = 6 if info.st_uid == uid else 3 if info.st_gid == gid else 0
        return bool(info.st_mode >> shift & what)

    # A need below another one that the fit can reach from it is shown with it
    kept: list[str] = []
    for need in needs:
        for above in reversed(_ancestors(need)):
            if not may(above, 1):
                kept.append(need)
                break
            if above in needs:
                break
        else:
            kept.append(need)
    shown = {need for need in kept if may(need, 1 if stat.S_ISDIR(info_of(need).st_mode) else 4)}
    covers: dict[str, None] = {}

    def below_cover(path: str) -> bool:
        """Cover the closed directories above `path`: True if its own directory is then a
        cover's (where it must be bound or recreated)."""
        covered = False
        for above in _ancestors(path):
            if above in shown:
                covered = False
            elif not covered and not may(above, 1):
                covers[above] = None
                covered = True
        return covered

    binds = [need for need in kept if need in shown and (below_cover(need) or may(need, 2))]
    links = {
        path: target
        for path, target in found_links.items()
        if not any(_within(path, top) for top in private) and below_cover(path)
    }
    return _ViewPlan(tuple(covers), tuple(binds), links)


def _show_needed_paths(plan: _ViewPlan, missing: list[str]) -> None:
    """Carry out `plan` in this new mount namespace (as root, before the user switch)."""
    sources: dict[str, int] = {}
    try:
        for path in plan.binds:  # opened before a cover hides them
            try:
                sources[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError as e:
                missing.append(f"python: fits cannot read {path} ({e.strerror}): {_UNREADABLE_FIX}")
        steps = [(path, "cover") for path in plan.covers]
        steps += [(path, "bind") for path in sources]
        steps += [(path, "link") for path in plan.links]
        steps.sort(key=lambda step: (step[0].count("/"), step[0]))  # what holds a path first
        done: list[str] = []
        failed: list[str] = []
        for path, step in steps:
            if any(_within(path, cover) for cover in failed):
                continue  # not in a tmpfs: nothing may be made there on the host's disk
            try:
                if step == "cover":
                    options = "mode=0755,size=1m"
                    _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options)
                elif step == "link":
                    _make_directories(os.path.dirname(path))
                    os.symlink(plan.links[path], path)
                    continue
                else:
                    source = sources[path]
                    if not os.path.lexists(path):  # in a cover
                        _make_directories(os.path.dirname(path))
                        if stat.S_ISDIR(os.fstat(source).st_mode):
                            _make_directories(path)
                        else:
                            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
                    _mount(f"/proc/self/fd/{source}", path, None, MS_BIND | MS_REC)
                done.append(path)
            except OSError as e:
                if step == "cover":
                    failed.append(path)
                missing.append(
                    f"python: fits may not read {path} ({step} in the fit's mount namespace "
                    f"failed: {e.strerror}): {_UNREADABLE_FIX}"
                )
        _read_only(done, missing)
    finally:
        for source in sources.values():
            os.close(source)


def _make_directories(path: str) -> None:
    """Like os.makedirs with mode 0755 whatever the umask (the fit must pass them)."""
    if os.path.isdir(path):
        return
    _make_directories(os.path.dirname(path))
    os.mkdir(path)
    os.chmod(path, 0o755)


def _read_only(tops: list[str], missing: list[str]) -> None:
    """Make the mounts at `tops`, and those below them (a bind took them along), read-only,
    without set-user-ID or devices; their other flags kept."""
    points = dict.fromkeys(tops)
    if tops:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                point = _unescape(line.split()[4])
                if any(_within(point, top) for top in tops):
                    points[point] = None
    kept_flags = {
        os.ST_NOEXEC: MS_NOEXEC,
        os.ST_NOATIME: MS_NOATIME,
        os.ST_NODIRATIME: MS_NODIRATIME,
        os.ST_RELATIME: MS_RELATIME,
    }
    for point in points:
        try:
            current = os.statvfs(point).f_flag
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
            flags |= sum(ms for st, ms in kept_flags.items() if current & st)
            _mount(None, point, None, flags)
        except OSError as e:
            # a mount of the host's now hidden under a cover: nothing there to change
            if point not in tops and e.errno in (errno.ENOENT, errno.EINVAL):
                continue
            missing.append(
                f"python: fits may change {point}, which other fits read (making it "
                f"read-only failed: {e.strerror})"
            )


def _unescape(field: bytes) -> str:
    """A path in /proc/self/mountinfo: space, tab, newline and backslash are octal escapes."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), field).decode(
        errors="surrogateescape"
    )


def _private_directory(settings: SandboxSettings, uid: int, gid: int) -> str:
    """HOME and TMPDIR without a mount namespace: tmp_root/fit-<pid>, 0700, the fit's."""
    root = settings.tmp_root
    os.makedirs(root, mode=0o711, exist_ok=True)  # others may pass through, not list
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SandboxError(
            f"tmp_root {root} must be a directory owned by uid {os.geteuid()} that no one else "
            f"can write (it is mode {stat.filemode(info.st_mode)}, uid {info.st_uid}): remove "
            f"it, or set tmp_root elsewhere"
        )
    path = private_directory(settings, os.getpid())
    if os.path.lexists(path):  # an earlier fit with this pid whose pool process died
        _remove_tree(path)
    os.mkdir(path, 0o700)
    if os.geteuid() == 0:
        try:
            os.chown(path, uid, gid)
        except OSError as e:
            raise SandboxError(
                f"cannot give the fit's directory {path} to uid {uid}, gid {gid}: {e}"
                f"{_unmapped_hint(e, settings)}"
            ) from e
    return path


def _set_home(home: str, user: str) -> None:
    for name in ("HOME", "TMPDIR", "TMP", "TEMP"):
        os.environ[name] = home
    os.environ["USER"] = os.environ["LOGNAME"] = user
    os.environ.pop("PWD", None)
    os.environ.pop("OLDPWD", None)
    tempfile.tempdir = None  # tempfile computed its directory from the worker's TMPDIR


def _limits(settings: SandboxSettings) -> None:
    mb = 1024 * 1024
    _limit(resource.RLIMIT_AS, settings.max_memory_mb * mb)
    # The soft CPU limit sends SIGXCPU, which names the cause; the hard one a second later
    # kills code that catches it.
    _limit(resource.RLIMIT_CPU, settings.max_cpu_seconds, grace=1)
    # Set after any user namespace exists: created with a low limit, the namespace would
    # count the worker user's processes against it too.
    _limit(resource.RLIMIT_NPROC, settings.max_processes)
    _limit(resource.RLIMIT_FSIZE, settings.max_file_mb * mb)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _limit(which: int, value: int, grace: int = 0) -> None:
    if value <= 0:
        return
    hard = value + grace
    current_hard = resource.getrlimit(which)[1]
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)  # never raised above what the operator set
    resource.setrlimit(which, (min(value, hard), hard))


def _remove_tree(path: str) -> None:
    """Remove a directory a fit wrote, without recursion (a fit can nest directories
    thousands deep) and without following a symlink (a leftover process may swap one in):
    each subdirectory met is moved up into the top directory and emptied there, so at most
    two directories are open at a time."""
    top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    moved = 0
    try:
        _make_removable(top)
        while names := os.listdir(top):
            for name in names:
                if _unlink(name, top):
                    continue
                sub = _open_directory(name, top)
                try:
                    for inner in os.listdir(sub):
                        if not _unlink(inner, sub):
                            while True:  # up into the top directory, under a free name
                                moved += 1
                                try:
                                    os.rename(inner, f".up{moved}", src_dir_fd=sub, dst_dir_fd=top)
                                    break
                                except OSError as e:
                                    if e.errno not in (
                                        errno.EEXIST,
                                        errno.ENOTEMPTY,
                                        errno.ENOTDIR,
                                    ):
                                        raise
                finally:
                    os.close(sub)
                os.rmdir(name, dir_fd=top)
    finally:
        os.close(top)
    os.rmdir(path)


def _unlink(name: str, directory: int) -> bool:
    """Remove a non-directory; False if `name` is a directory."""
    try:
        os.unlink(name, dir_fd=directory)
    except IsADirectoryError:
        return False
    except FileNotFoundError:
        pass
    return True


def _open_directory(name: str, parent: int) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=parent)
    except PermissionError:  # not root: the fit, as the same user, locked it (chmod 000)
        os.chmod(name, 0o700, dir_fd=parent)
        fd = os.open(name, flags, dir_fd=parent)
    _make_removable(fd)
    return fd


def _make_removable(directory: int) -> None:
    if os.geteuid() != 0:  # root ignores the modes; the worker's user needs them
        os.fchmod(directory, 0o700)


def _drop_capabilities() -> None:
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()  # all zero: no effective, permitted or inheritable capability
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _check(_libc().capset(ctypes.byref(header), data))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        _LIBC.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        _LIBC.unshare.argtypes = [ctypes.c_int]
    return _LIBC


def _check(result: int) -> None:
    if result == -1:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _unshare(flags: int) -> None:
    try:
        _check(_libc().unshare(flags))
    except AttributeError:  # no such call (not Linux)
        raise OSError(errno.ENOSYS, "unshare is Linux only") from None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    def arg(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(_libc().mount(arg(source), target.encode(), arg(fstype), flags, arg(data or None)))


def _prctl(option: int, value: int) -> None:
    try:
        _check(_libc().prctl(option, value, 0, 0, 0))
    except AttributeError:  # not Linux: none of these options exists
        pass


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def read_to_end(fd: int, timeout: float) -> bytes | None:
    """Everything until end of file; None if that takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
