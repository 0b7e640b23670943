"""The wheel built from a fresh clone ships the prebuilt sidebar: users need no Node."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

from ..support.services import REPO

BIN = os.path.dirname(sys.executable)  # jlpm and jupyter, as in an isolated build env
SHARE = "jupyter_bumps_remote-{v}.data/data/share/jupyter/labextensions/jupyter-bumps-remote/"


def test_wheel_from_a_fresh_clone_contains_the_labextension(tmp_path):
    from jupyter_bumps_remote import __version__

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth=1", f"file://{REPO}", str(clone)], check=True)
    assert not (clone / "jupyter_bumps_remote" / "labextension").exists()
    # the build environment is this one (it has the build requirements): no second download
    # of JupyterLab; the hook still runs jlpm install + build:prod in the clone
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(clone),
        ],
        check=True,
        env={**os.environ, "PATH": os.pathsep.join([BIN, os.environ["PATH"]])},
    )
    (wheel,) = (tmp_path / "dist").glob("jupyter_bumps_remote-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    share = SHARE.format(v=__version__)
    for name in ("package.json", "install.json", "schemas/jupyter-bumps-remote/plugin.json"):
        assert share + name in names, f"{name} missing from {wheel.name}"
    assert any(n.startswith(share + "static/remoteEntry.") for n in names)
    package = json.loads(zipfile.ZipFile(wheel).read(share + "package.json"))
    assert package["version"] == __version__


def test_labextension_is_listed_enabled_with_the_servers_version():
    from jupyter_bumps_remote import __version__

    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    text = out.stdout + out.stderr
    line = next(line for line in text.splitlines() if "jupyter-bumps-remote" in line)
    assert f"v{__version__}" in line and "enabled" in line and "OK" in line, text
    version_ts = (REPO / "labextension" / "src" / "version.ts").read_text()
    assert f"'{__version__}'" in version_ts
    assert json.loads((REPO / "package.json").read_text())["version"] == __version__
