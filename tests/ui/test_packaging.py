"""The wheel built from a fresh clone ships the prebuilt sidebar: users need no Node."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

from ..support.package_version import npm_version, python_version
from ..support.services import REPO

BIN = os.path.dirname(sys.executable)  # jlpm and jupyter, as in an isolated build env
SHARE = "jupyter_bumps_remote-{v}.data/data/share/jupyter/labextensions/jupyter-bumps-remote/"


def test_wheel_from_a_fresh_clone_contains_the_labextension(tmp_path):
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
    # the version comes from package.json alone (no _version.py is tracked)
    (wheel,) = (tmp_path / "dist").glob(f"jupyter_bumps_remote-{python_version()}-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "jupyter_bumps_remote/_version.py" in names
    share = SHARE.format(v=python_version())
    for name in ("package.json", "install.json", "schemas/jupyter-bumps-remote/plugin.json"):
        assert share + name in names, f"{name} missing from {wheel.name}"
    assert any(n.startswith(share + "static/remoteEntry.") for n in names)
    package = json.loads(zipfile.ZipFile(wheel).read(share + "package.json"))
    assert package["version"] == npm_version()


def test_labextension_is_listed_enabled_with_package_jsons_version():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    text = out.stdout + out.stderr
    line = next(line for line in text.splitlines() if "jupyter-bumps-remote" in line)
    assert f"v{npm_version()}" in line and "enabled" in line and "OK" in line, text


def test_the_sidebar_version_is_written_from_package_json(tmp_path):
    """labextension/write-version.js (run before tsc and jest) writes the version the sidebar
    compares with the server's, as Python spells it; a form it cannot translate stops it."""
    (tmp_path / "labextension" / "src").mkdir(parents=True)
    script = tmp_path / "labextension" / "write-version.js"
    script.write_text((REPO / "labextension" / "write-version.js").read_text())

    def write(version: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "package.json").write_text(json.dumps({"version": version}))
        return subprocess.run(["node", str(script)], capture_output=True, text=True)

    assert write("0.2.0-rc1").returncode == 0
    version_ts = (tmp_path / "labextension" / "src" / "version.ts").read_text()
    assert "export const VERSION = '0.2.0rc1';" in version_ts
    refused = write("0.2.0-dev1")
    assert refused.returncode == 1
    assert 'package.json: "version" is "0.2.0-dev1"' in refused.stderr
