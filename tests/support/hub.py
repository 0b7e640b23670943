"""A real JupyterHub for the hub tests (tests/hub): `jupyterhub -f config` as root in a temp
dir, behind its configurable-http-proxy under the base URL `/hub-test/`, on free loopback
ports; the `dummy` authenticator with one password; each user's server a process of that
user's own OS account (LocalProcessSpawner's way: tests/support/hub_spawner.py), so that no
user can read another's server's environment; every server fenced into its own Redis user
by `jupyter_bumps_remote.hub.fence_users` against an ACL-protected redis-server, with real
workers on the admin URL (tests/hub/conftest.py puts them together).

The OS users are made for the run (`useradd --system`, names with a random tag) and removed
after it. Without root, jupyterhub or configurable-http-proxy (`./run test` installs both:
the test extra and npm) the tests skip, unless BUMPS_REMOTE_TEST_REQUIRE names `hub`: then
they fail.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from .libraries import REQUIRE_VARIABLE, required
from .server_notebook import ServerKernel
from .services import REPO, free_port
from .waiting import wait_until

BASE_URL = "/hub-test/"
SUPPORT = Path(__file__).resolve().parent
# the venv's bin first: `./run test` installs configurable-http-proxy there (npm --prefix)
SEARCH_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
COMMANDS = ("useradd", "userdel", "unshare", "mount")


def proxy_command() -> str | None:
    return shutil.which("configurable-http-proxy", path=SEARCH_PATH)


def why_not() -> str | None:
    """Why a hub with users of their own cannot be started here, or None."""
    if os.geteuid() != 0:
        return "the hub's spawner starts each user's server as that OS user: it needs root"
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub is not installed (pip install jupyterhub; ./run test does it)"
    if proxy_command() is None:
        return "configurable-http-proxy is not installed (npm install -g configurable-http-proxy)"
    for name in COMMANDS:
        if shutil.which(name, path=SEARCH_PATH + os.pathsep + "/usr/sbin:/sbin") is None:
            return f"{name} is not installed"
    return None


def require_hub() -> None:
    """Skip the test where no hub can run (fail, where BUMPS_REMOTE_TEST_REQUIRE has hub)."""
    reason = why_not()
    if reason is None:
        return
    if "hub" in required():
        pytest.fail(f"a JupyterHub is required in this environment ({REQUIRE_VARIABLE}): {reason}")
    pytest.skip(reason)


def covers(paths: list[str]) -> list[str]:
    """The launcher's `--cover CLOSED=NEEDED` options for `paths` that lie under a directory
    other users cannot pass (pyenv in root's 0700 home): see hub_user_server.py."""
    options: list[str] = []
    for path in dict.fromkeys(os.path.realpath(p) for p in paths):
        parts = Path(path).parts
        for depth in range(2, len(parts)):
            ancestor = os.path.join(*parts[:depth])
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                options += ["--cover", f"{ancestor}={path}"]
                break
    return options


ACCOUNT_PREFIX = "bumps-hub-"


class SystemUser:
    """An OS account made for the run (its own group and home), removed by `remove`. Its
    name carries the test process's id, so that a later run can remove the accounts of a
    run that was killed before it could (`remove_stale_accounts`)."""

    def __init__(self, tag: str):
        self.name = f"{ACCOUNT_PREFIX}{tag}-{os.getpid()}-{secrets.token_hex(2)}"
        self.home = Path(tempfile.gettempdir()) / f"home-{self.name}"
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--create-home",
                "--home-dir",
                str(self.home),
                "--shell",
                "/bin/bash",
                self.name,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.home.chmod(0o700)

    def write(self, relative: str, text: str) -> Path:
        """A file in the user's home, owned by the user (directories included)."""
        path = self.home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for part in [path, *path.relative_to(self.home).parents]:
            os.chown(self.home / part, self.uid, self.gid)
        return path

    def remove(self) -> None:
        remove_account(self.name, Path(pwd.getpwnam(self.name).pw_dir))


def remove_account(name: str, home: Path) -> None:
    """Delete the account and its home, after ending what still runs as it: the processes
    of an account made for one test run are that run's servers and kernels."""
    uid = pwd.getpwnam(name).pw_uid
    listed = subprocess.run(["pgrep", "-u", str(uid)], capture_output=True, text=True)
    for pid in (int(p) for p in listed.stdout.split()):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass

    def none_left() -> bool:
        return subprocess.run(["pgrep", "-u", str(uid)], capture_output=True).returncode == 1

    wait_until(none_left, 30, f"the processes of {name} gone")
    subprocess.run(["userdel", "--remove", name], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def remove_stale_accounts() -> None:
    """Remove the accounts that earlier runs made and could not remove (their test process
    is gone: killed)."""
    for entry in pwd.getpwall():
        if not entry.pw_name.startswith(ACCOUNT_PREFIX):
            continue
        parts = entry.pw_name[len(ACCOUNT_PREFIX) :].split("-")
        if len(parts) == 3 and parts[1].isdigit() and not os.path.exists(f"/proc/{parts[1]}"):
            remove_account(entry.pw_name, Path(entry.pw_dir))


# JupyterLab without its news and update toasts, and with the kernel started without asking
LAB_SETTINGS = {
    ".jupyter/lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings": (
        '{"fetchNews": "false", "checkForUpdates": false}'
    ),
    ".jupyter/lab/user-settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings": (
        '{"autoStartDefaultKernel": true}'
    ),
    # another package's extension in a shared dev venv (ipyparallel's, from the bench extra)
    # opens an error dialog over the page when its server side is not there
    ".jupyter/labconfig/page_config.json": (
        '{"disabledExtensions": {"ipyparallel-labextension": true}}'
    ),
}

CONFIG = """\
# written by tests/support/hub.py
c = get_config()  # noqa
c.JupyterHub.bind_url = {bind_url!r}
c.JupyterHub.hub_bind_url = {hub_bind_url!r}
c.ConfigurableHTTPProxy.api_url = {proxy_api_url!r}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.pid_file = {pid_file!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = set({users!r})
c.JupyterHub.services = [{{"name": "tests", "api_token": {admin_token!r}}}]
c.JupyterHub.load_roles = [
    {{
        "name": "tests",
        "scopes": [
            "admin:users", "admin:servers", "admin:server_state", "tokens", "access:servers"
        ],
        "services": ["tests"],
    }}
]
c.JupyterHub.spawner_class = "tests.support.hub_spawner.OwnUserSpawner"
c.Spawner.cmd = {cmd!r}
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
{fence}
"""

FENCE = """\
from jupyter_bumps_remote.hub import fence_users
fence_users(c, redis_admin_url={admin_url!r}, key_prefix="bumps-remote:")
"""


class HubUser:
    """A hub user: its OS account, an API token of its own, its server's URL."""

    def __init__(self, hub: Hub, account: SystemUser):
        self.hub, self.account, self.name = hub, account, account.name
        self.token = ""
        self.url = f"{hub.url}user/{self.name}/"

    @property
    def headers(self) -> dict:
        return {"Authorization": f"token {self.token}"}

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """The package's REST API on this user's server, through the hub's proxy."""
        return requests.request(
            method,
            self.url + "bumps-remote/api/" + path,
            headers=self.headers,
            timeout=60,
            **kwargs,
        )

    def kernel(self) -> ServerKernel:
        """A kernel of this user's server (a notebook's), through the proxy."""
        return ServerKernel(self.url, self.token)

    def server_pid(self) -> int:
        """The pid of this user's single-user server process."""
        state = self.hub.api("GET", f"users/{self.name}", params={"include_stopped_servers": "0"})
        return int(state.json()["servers"][""]["state"]["pid"])


class Hub:
    """JupyterHub as root in its own temp dir; `users` are SystemUsers it serves."""

    def __init__(self, admin_url: str | None, users: list[SystemUser]):
        self.dir = Path(tempfile.mkdtemp(prefix="bumps-remote-hub-"))
        self.dir.chmod(0o700)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{BASE_URL}"
        self.password = secrets.token_hex(8)
        self.admin_token = secrets.token_hex(16)
        self.admin_url = admin_url
        self.users = {account.name: HubUser(self, account) for account in users}
        self.log = self.dir / "jupyterhub.log"
        self.process: subprocess.Popen | None = None

    def _config(self) -> str:
        server = [sys.executable, "-m", "jupyterhub.singleuser"]
        launcher = [sys.executable, str(SUPPORT / "hub_user_server.py")]
        cover = covers([sys.base_prefix, sys.prefix, str(REPO)])
        cmd = ["unshare", "--mount", "--propagation", "private", *launcher, *cover, "--", *server]
        fence = FENCE.format(admin_url=self.admin_url) if self.admin_url else ""
        return CONFIG.format(
            bind_url=self.url,
            hub_bind_url=f"http://127.0.0.1:{free_port()}",
            proxy_api_url=f"http://127.0.0.1:{free_port()}",
            proxy=proxy_command(),
            db_url=f"sqlite:///{self.dir / 'jupyterhub.sqlite'}",
            cookie_secret=str(self.dir / "cookie_secret"),
            pid_file=str(self.dir / "proxy.pid"),
            password=self.password,
            users=sorted(self.users),
            admin_token=self.admin_token,
            cmd=cmd,
            fence=fence,
        )

    def start(self, timeout: float = 120) -> Hub:
        config = self.dir / "jupyterhub_config.py"
        config.write_text(self._config())
        for user in self.users.values():
            for relative, text in LAB_SETTINGS.items():
                user.account.write(relative, text)
        env = {
            **os.environ,
            "PATH": SEARCH_PATH,
            # the spawner module, and for the users' kernels the tests' support code
            "PYTHONPATH": str(REPO),
        }
        env.pop("BUMPS_REMOTE_REDIS_URL", None)
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=self.dir,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + "hub/api/", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyterhub did not start:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.1)
        for user in self.users.values():
            user.token = self._token(user.name)
        return self

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """The hub's REST API, as the tests' admin service."""
        headers = {"Authorization": f"token {self.admin_token}"}
        return requests.request(
            method, self.url + "hub/api/" + path, headers=headers, timeout=60, **kwargs
        )

    def _token(self, name: str) -> str:
        made = self.api("POST", f"users/{name}/tokens", json={"note": "hub tests"})
        made.raise_for_status()
        return made.json()["token"]

    def spawn(self, name: str, timeout: float = 240) -> HubUser:
        """Start the user's server and wait until the hub says it is ready."""
        started = self.api("POST", f"users/{name}/server")
        if started.status_code not in (201, 202, 400):  # 400: already running
            raise RuntimeError(f"spawn {name}: {started.status_code} {started.text}")

        def ready() -> bool:
            server = self.api("GET", f"users/{name}").json()["servers"].get("", {})
            if not server.get("pending") and not server.get("ready"):
                raise RuntimeError(f"{name}'s server failed:\n{self.log.read_text()[-4000:]}")
            return bool(server.get("ready"))

        wait_until(ready, timeout, f"{name}'s server ready")
        return self.users[name]

    def login(self, page, name: str) -> None:
        """Log `page` (Playwright) in as `name` through the hub's login form."""
        page.goto(self.url + "hub/login")
        page.get_by_label("Username").fill(name)
        page.get_by_label("Password").fill(self.password)
        page.get_by_role("button", name="Sign in").click()

    def stop(self) -> None:
        """Stop the hub: with cleanup_servers it stops the users' servers and its proxy."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(10)
        if getattr(self, "_log_file", None):
            self._log_file.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
