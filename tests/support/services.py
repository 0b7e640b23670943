"""Start and stop the real processes the tests run against: redis-server, Celery workers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[2]


class TLSFiles:
    """A throw-away CA and a server certificate for `hosts` (127.0.0.1 and localhost unless
    given), as PEM files."""

    def __init__(self, directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")):
        import trustme

        authority = trustme.CA()
        server = authority.issue_cert(*hosts)
        self.ca, self.cert, self.key = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
        authority.cert_pem.write_to_path(str(self.ca))
        server.private_key_pem.write_to_path(str(self.key))
        with open(self.cert, "wb") as chain:
            for blob in server.cert_chain_pems:
                chain.write(blob.bytes())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server on a random loopback port, data in its own temp dir.

    As a shared Redis is run: with `user` and `password`, only that ACL user may connect (the
    default user is off; without `channels`, it may use no pub/sub channel, as Redis 7 has it
    by default); with `tls` (a `TLSFiles`), it speaks TLS only, on that port. `stop()` then
    `start()` restarts it on the same port with the same data dir; `extra` adds redis-server
    arguments (e.g. `["--save", "60 1"]`); `host`: the address it listens on and its URL
    names (tests/support/netns.py gives it one in a network namespace)."""

    def __init__(
        self,
        appendonly: bool = True,
        user: str | None = None,
        password: str | None = None,
        tls: TLSFiles | None = None,
        channels: bool = True,
        extra: list[str] | None = None,
        host: str = "127.0.0.1",
    ):
        if not shutil.which("redis-server"):
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="bumps-remote-redis-"))
        self.port = free_port()
        self.appendonly = appendonly
        self.user, self.password, self.tls, self.channels = user, password, tls, channels
        self.extra = list(extra or [])
        self.host = host
        self.process: subprocess.Popen | None = None
        self.url = self.url_with()

    def url_with(self, password: str | None = None, scheme: str | None = None) -> str:
        """This server's URL, or one with another password or scheme (to get them wrong)."""
        scheme = scheme or ("rediss" if self.tls else "redis")
        credentials = f"{self.user}:{password or self.password}@" if self.user else ""
        query = f"?ssl_ca_certs={self.tls.ca}" if self.tls and scheme == "rediss" else ""
        return f"{scheme}://{credentials}{self.host}:{self.port}/0{query}"

    def _access_args(self) -> list[str]:
        args = []
        if self.user:
            # Redis 7 gives new users no pub/sub channels: Celery's task events need `&*`
            grants = ["on", f">{self.password}", "~*", *(["&*"] if self.channels else []), "+@all"]
            args += ["--user", "default", "off", "--user", self.user, *grants]
        if self.tls:
            files = {"cert": self.tls.cert, "key": self.tls.key, "ca-cert": self.tls.ca}
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            for name, path in files.items():
                args += [f"--tls-{name}-file", str(path)]
        return args

    def start(self) -> RedisServer:
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.dir / "redis.log"),
            *self._access_args(),
            *self.extra,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(
                        f"redis-server did not start: {self.dir}/redis.log"
                    ) from None
                time.sleep(0.02)

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis.from_url(self.url, **kwargs)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: redis-server flushes its AOF and exits; SIGKILL: it just dies."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """`bumps-remote worker` as a real process, its log in a file; with `user`, as that
    unprivileged user (see `unprivileged`)."""

    def __init__(
        self,
        redis_url: str,
        concurrency: int = 2,
        env: dict | None = None,
        pythonpath: list[str] | None = None,
        user: str | None = None,
        celery_args: tuple[str, ...] = ("--without-mingle", "--without-gossip"),
    ):
        """`celery_args=()` runs the worker as `bumps-remote worker` does by default (mingle
        and gossip on), for tests of the broker connection itself."""
        self.log = Path(tempfile.mkstemp(prefix="bumps-remote-worker-", suffix=".log")[1])
        self.env = {
            **os.environ,
            "BUMPS_REMOTE_REDIS_URL": redis_url,
            "BUMPS_REMOTE_PROGRESS_INTERVAL": "0.1",
            "PYTHONPATH": os.pathsep.join([*(pythonpath or []), str(REPO)]),
            **(env or {}),
        }
        self.concurrency = concurrency
        self.command = [
            sys.executable,
            "-m",
            "jupyter_bumps_remote.cli",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--",
            *celery_args,
        ]
        self.user, self.home = user, None
        if user is not None:
            prefix, self.home = unprivileged(user)
            self.command = [*prefix, *self.command]
            self.env.update(HOME=str(self.home), TMPDIR=str(self.home), PYTHONDONTWRITEBYTECODE="1")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Worker:
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    def children(self) -> list[int]:
        """Pids of the worker's pool processes and their fit processes."""
        out = subprocess.run(["pgrep", "-s", str(self.process.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split() if int(p) != self.process.pid]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # warm shutdown: Celery waits for running fits
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if getattr(self, "_log_file", None):
            self._log_file.close()
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)


PROCESS_CEILING = 300


def unprivileged(user: str) -> tuple[list[str], Path]:
    """A command prefix that runs a command as `user` (uid and gid, no other groups), and a
    home directory it owns.

    The user must be able to read the interpreter, the venv and the code. Where one of them
    lies under a directory it cannot enter (pyenv's Pythons live in root's 0700 home), the
    prefix also grants CAP_DAC_READ_SEARCH (read any file) and nothing else: the process is
    not root, and RLIMIT_NPROC, which only CAP_SYS_RESOURCE and CAP_SYS_ADMIN lift, binds it.
    """
    import pwd

    entry = pwd.getpwnam(user)
    home = Path(tempfile.mkdtemp(prefix=f"bumps-remote-{user}-"))
    os.chown(home, entry.pw_uid, entry.pw_gid)
    # A ceiling on the user's processes for the whole tree, far above what the tests set: if
    # the worker's own limit broke, a fork bomb would still not take the machine down.
    prefix = [
        "prlimit",
        f"--nproc={PROCESS_CEILING}",
        "setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--clear-groups",
    ]
    # the same interpreter (a symlink it cannot follow may start another Python), the same
    # packages
    check = f"import sys, redis, jupyter_bumps_remote.worker; assert sys.version == {sys.version!r}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(home)}

    def trial(prefix):
        command = [*prefix, sys.executable, "-c", check]
        return subprocess.run(command, env=env, capture_output=True, text=True, cwd=home)

    if trial(prefix).returncode != 0:
        prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
        checked = trial(prefix)
        if checked.returncode != 0:
            raise RuntimeError(f"{user} cannot run the worker's Python: {checked.stderr}")
    return prefix, home


class JupyterServer:
    """A real `jupyter server` process with its own config, data and runtime dirs."""

    def __init__(self, home: Path, env: dict | None = None, args: list[str] | None = None):
        self.home = Path(home)
        self.port = free_port()
        self.token = "t" + os.urandom(8).hex()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.home / "config"),
            "JUPYTER_DATA_DIR": str(self.home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        self.env.pop("BUMPS_REMOTE_REDIS_URL", None)
        self.args = args or []
        self.process: subprocess.Popen | None = None
        self.log = self.home / f"server-{self.port}.log"
        self.command = "jupyter_server"

    def start(self, timeout: float = 60) -> JupyterServer:
        import requests

        self.home.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.command,
                "--allow-root",
                "--no-browser",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.home}",
                *self.args,
            ],
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(self.url + "api/status", headers=self.headers, timeout=1)
                return self
            # not listening yet, or (on a loaded machine) listening but not yet answering
            except (requests.ConnectionError, requests.Timeout):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log.read_text()
                    raise RuntimeError(f"jupyter server did not start:\n{log}") from None
                time.sleep(0.1)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"token {self.token}"}

    def api(self, method: str, path: str, **kwargs):
        import requests

        return requests.request(
            method,
            self.url + "bumps-remote/api/" + path,
            headers=self.headers,
            timeout=30,
            **kwargs,
        )

    def stop(self, timeout: float = 60) -> None:
        import requests

        if self.process is None or self.process.poll() is not None:
            return
        try:
            # answered once the server's cleanup is done: in embedded mode that waits for its
            # workers to drain (up to 10 s) and its Redis to stop; a shorter wait SIGKILLed
            # the server mid-drain on a loaded machine (its workers with it)
            requests.post(self.url + "api/shutdown", headers=self.headers, timeout=30)
            self.process.wait(timeout)
        except (requests.RequestException, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(10)
        finally:
            self._log_file.close()


class JupyterLab(JupyterServer):
    """`jupyter lab` (the same server, with the JupyterLab front end and our labextension)
    with its own settings and workspaces, news and update checks off, so that no toast but
    ours shows up. `stop()` then `start()` restarts it on the same port and token."""

    def __init__(self, home: Path, env: dict | None = None, args: list[str] | None = None):
        home = Path(home)
        settings = home / "lab-settings"
        super().__init__(
            home,
            env,
            [
                f"--LabApp.user_settings_dir={settings}",
                f"--LabApp.workspaces_dir={home / 'workspaces'}",
                *(args or []),
            ],
        )
        self.command = "jupyterlab"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            '{"fetchNews": "false", "checkForUpdates": false}'
        )
        notebook = settings / "@jupyterlab" / "notebook-extension"
        notebook.mkdir(parents=True, exist_ok=True)
        # no "Select Kernel" dialog when the kernel specs load after the notebook opens
        (notebook / "tracker.jupyterlab-settings").write_text('{"autoStartDefaultKernel": true}')

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"
