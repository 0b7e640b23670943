"""The worker containers (#16 point 7, docs/cluster.md#containers): their entrypoint,
containers/bumps-remote-worker, is run here outside a container against a real Redis and
runs a fit; the recipes (containers/Dockerfile, containers/worker.def) are checked against
that script and pyproject.toml, and the package builds from exactly the files they copy.
No Docker engine or Apptainer runs here: the images themselves are not built."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from jupyter_bumps_remote.server_ext import dispatch
from jupyter_bumps_remote.shared import jobs, transport
from jupyter_bumps_remote.shared.settings import WorkerSettings
from jupyter_bumps_remote.store import JobStore
from jupyter_bumps_remote.worker import make_app

from ..support.problems import gaussian_problem
from ..support.services import REPO, RedisServer, Worker
from ..support.waiting import wait_until

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest brings tomli
    import tomli as tomllib  # type: ignore[no-redef]

CONTAINERS = REPO / "containers"
ENTRYPOINT = CONTAINERS / "bumps-remote-worker"
IN_IMAGE = "/usr/local/bin/bumps-remote-worker"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# what both recipes copy into the image to build the package from
SOURCES = [
    "pyproject.toml",
    "package.json",
    "README.md",
    "LICENSE",
    "install.json",
    "jupyter-config",
    "jupyter_bumps_remote",
]


def entrypoint_worker(redis_url: str, settings_file: Path) -> Worker:
    """A worker started by the containers' entrypoint, as `docker run IMAGE ARGS` starts it,
    with the venv's bin first on PATH (in the image: /usr/local/bin), and the Redis URL in
    the settings file only, not in its environment."""
    worker = Worker(redis_url, concurrency=1)
    worker.env.pop("BUMPS_REMOTE_REDIS_URL")
    bin_dir = str(Path(sys.executable).parent)
    worker.env |= {
        "PATH": os.pathsep.join([bin_dir, worker.env.get("PATH", "")]),
        "BUMPS_REMOTE_ENV_FILE": str(settings_file),
    }
    # `bumps-remote worker`'s options, then Celery's after --, as the tests' workers take
    worker.command = [str(ENTRYPOINT), *worker.command[worker.command.index("worker") + 1 :]]
    return worker


def test_the_entrypoint_runs_a_worker_that_runs_a_fit(tmp_path):
    password = secrets.token_hex(12)
    redis = RedisServer(appendonly=False, user="bumps", password=password).start()
    settings_file = tmp_path / "worker.env"
    settings_file.write_text(f"export BUMPS_REMOTE_REDIS_URL={shlex.quote(redis.url)}\n")
    settings_file.chmod(0o600)
    worker = entrypoint_worker(redis.url, settings_file)
    try:
        worker.start(timeout=120)
        assert worker.process is not None
        # the worker's command line holds no secret
        with open(f"/proc/{worker.process.pid}/cmdline", "rb") as f:
            command = f.read().decode().split("\0")
        assert "worker" in command and password not in " ".join(command)
        settings = WorkerSettings(redis_url=redis.url)
        store = JobStore(redis.client(), **settings.store_settings())
        payload = transport.encode(gaussian_problem())
        job = dispatch.submit(store, make_app(settings), "alice", payload, "lm", {"steps": 50})
        record = wait_until(
            lambda: (r := store.get("alice", job["id"]))["status"] in jobs.TERMINAL and r,
            120,
            "the fit to end",
        )
        assert record["status"] == jobs.SUCCEEDED, record.get("error")
        # run by the process started as the entrypoint (it exec'd the worker)
        (advertised,) = store.workers()
        assert advertised["pid"] == worker.process.pid
        assert record["worker"] == advertised["name"]
    finally:
        worker.stop()
        redis.cleanup()


@pytest.mark.parametrize("given", ["missing.env", "a-directory"])
def test_the_entrypoint_refuses_a_settings_file_it_cannot_read(tmp_path, given):
    (tmp_path / "a-directory").mkdir()
    env = {"PATH": "/usr/bin:/bin", "BUMPS_REMOTE_ENV_FILE": str(tmp_path / given)}
    ran = subprocess.run([str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert ran.returncode == 2
    assert f"cannot read BUMPS_REMOTE_ENV_FILE={tmp_path / given}" in ran.stderr


def test_the_entrypoint_script_is_bumps_remote_worker():
    assert ENTRYPOINT.stat().st_mode & stat.S_IXOTH, "containers/bumps-remote-worker: chmod +x"
    lines = [line.strip() for line in ENTRYPOINT.read_text().splitlines()]
    assert lines[0] == "#!/bin/sh"
    assert lines[-1] == 'exec bumps-remote worker "$@"'
    # the command that line runs is this package's
    assert PYPROJECT["project"]["scripts"]["bumps-remote"] == "jupyter_bumps_remote.cli.main:main"
    tracked = subprocess.run(
        ["git", "ls-files", "-s", str(ENTRYPOINT)], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert not tracked or tracked.startswith("100755"), "git: the script must be executable"


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of containers/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (CONTAINERS / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def apptainer_sections() -> dict[str, list[str]]:
    """The header (as "header") and each %section's lines of containers/worker.def."""
    sections: dict[str, list[str]] = {"header": []}
    current = "header"
    for line in (CONTAINERS / "worker.def").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("%"):
            current = stripped[1:].split()[0]
            sections[current] = []
        else:
            sections[current].append(stripped)
    return sections


def test_the_recipes_run_the_entrypoint_script():
    instructions = dockerfile()
    entrypoints = [args for name, args in instructions if name == "ENTRYPOINT"]
    assert entrypoints == [f'["tini", "--", "{IN_IMAGE}"]']
    assert ("CMD", "[]") in instructions  # the arguments of `docker run IMAGE ...` go to it
    assert ("COPY", f"containers/bumps-remote-worker {IN_IMAGE}") in instructions
    sections = apptainer_sections()
    assert sections["runscript"] == [f'exec {IN_IMAGE} "$@"']
    assert f"containers/bumps-remote-worker {IN_IMAGE}" in sections["files"]


def pip_installs(lines: list[str]) -> list[str]:
    return [line for line in lines if "pip install" in line]


def test_the_recipes_install_this_package_on_a_python_it_supports():
    instructions = dockerfile()
    args = dict(a.split("=", 1) for name, a in instructions if name == "ARG" and "=" in a)
    sections = apptainer_sections()
    header = dict(line.split(": ", 1) for line in sections["header"])
    assert header["Bootstrap"] == "docker"
    # the same Python in both, one that pyproject.toml allows
    assert ("FROM", "python:${PYTHON}-slim-bookworm") in instructions
    assert header["From"] == f"python:{args['PYTHON']}-slim-bookworm"
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert requires.contains(args["PYTHON"] + ".0"), (args["PYTHON"], str(requires))
    # the package from the checkout, with the same extras, each one pyproject.toml defines
    extras = set(args["EXTRAS"].split(","))
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"])
    (docker_install,) = pip_installs([a for name, a in instructions if name == "RUN"])
    assert 'SKIP_JUPYTER_BUILDER=1 pip install --no-cache-dir "/src[${EXTRAS}]"' in docker_install
    (apptainer_install,) = pip_installs(sections["post"])
    expected = f'SKIP_JUPYTER_BUILDER=1 pip install --no-cache-dir "/src[{args["EXTRAS"]}]"'
    assert apptainer_install == expected
    # both copy the same sources
    copied = " ".join(a for name, a in instructions if name == "COPY")
    assert all(re.search(rf"(^|\s){re.escape(s)}(\s|$)", copied) for s in SOURCES), copied
    assert {line.split()[0] for line in sections["files"]} == {
        *SOURCES,
        str(ENTRYPOINT.relative_to(REPO)),
    }


def test_the_package_builds_from_what_the_recipes_copy(tmp_path):
    """What the recipes' pip install builds: the wheel, from exactly the files they copy
    (as git has them), with the sidebar's build skipped as they skip it."""
    source = tmp_path / "src"
    source.mkdir()
    archive = subprocess.run(
        ["git", "archive", "HEAD", *SOURCES], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + [str(source), "-w", str(tmp_path / "dist")],
        env={**os.environ, "SKIP_JUPYTER_BUILDER": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("jupyter_bumps_remote-*.whl")
    with zipfile.ZipFile(wheel) as contents:
        names = contents.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = contents.read(entry_points).decode()
    assert "jupyter_bumps_remote/cli/main.py" in names
    assert "jupyter_bumps_remote/worker/fit/sandbox.py" in names
    assert "bumps-remote = jupyter_bumps_remote.cli.main:main" in scripts
