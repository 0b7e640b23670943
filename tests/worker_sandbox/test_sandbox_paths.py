"""What a fit can read when the Python environment lies under a directory its user cannot
pass (pyenv or conda in a 0700 home): the fit's mount namespace covers that directory with
an empty tmpfs and binds back, read-only, just what the fit needs
(jupyter_bumps_remote/worker/fit/sandbox.py, `needed_paths`).

Real forks of the test process enter the sandbox as root and look around as the fit's uid.
Each test makes its own closed directory (0700, root's) under /root, so the cover is tried
wherever Python lives on the machine.
"""

from __future__ import annotations

import importlib
import os
import shutil
import stat
import sys
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from jupyter_bumps_remote.worker.fit import sandbox
from jupyter_bumps_remote.worker.fit.sandbox import SandboxSettings

from ..support.sandboxed import answer_of, error_name

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="the sandbox switches users and makes namespaces: Linux, tests run as root",
)
# Standard modules rarely imported by a test run; the first not yet imported is tried
NEVER_IMPORTED = ("wave", "colorsys", "graphlib", "tabnanny", "zipapp", "netrc")
# Loaded by `import multiprocessing` itself: the rest a pool loads lazily
MULTIPROCESSING_ITSELF = {"context", "process", "reduction"}
SECRET_FILE = Path("/root/.bumps-sandbox-test-secret")


@pytest.fixture
def settings(tmp_path) -> SandboxSettings:
    return SandboxSettings(tmp_root=str(tmp_path / "fits"))


@pytest.fixture
def closed_home():
    """A 0700 directory of root's, like a home holding a Python environment and secrets."""
    home = Path("/root") / f".bumps-sandbox-test-{uuid.uuid4().hex[:12]}"
    home.mkdir(mode=0o700)
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        shutil.rmtree(home)


def make_tree(top: Path, files: dict[str, str], mode: int = 0o755) -> None:
    """Files (relative path -> text, readable by all) and their directories, of `mode`."""
    for relative, text in files.items():
        path = top / relative
        for directory in reversed(path.relative_to(top).parents[:-1]):
            (top / directory).mkdir(exist_ok=True)
            os.chmod(top / directory, mode)
        path.write_text(text)
        os.chmod(path, 0o644)


def test_a_fit_imports_what_the_pool_process_had_not(settings):
    """A standard module never imported, and a process pool whose modules are read again:
    the standard library comes from disk as the fit's user."""
    module = next(name for name in NEVER_IMPORTED if name not in sys.modules)

    def check(handle):
        assert module not in sys.modules
        before = sys.modules.get("multiprocessing.pool")
        for name in [n for n in sys.modules if n.startswith("multiprocessing.")]:
            if name.split(".")[1] not in MULTIPROCESSING_ITSELF:
                del sys.modules[name]
        importlib.invalidate_caches()
        importlib.import_module(module)
        import multiprocessing.popen_fork  # noqa: F401 - the import is the check

        with multiprocessing.get_context("fork").Pool(2) as pool:
            squares = pool.map(abs, [-1, -2, -3])
        return {
            "uid": os.getuid(),
            "read again": sys.modules["multiprocessing.pool"] is not before,
            "pool": squares,
            "missing": list(handle.missing),
        }

    found = answer_of(settings, check)
    assert found["uid"] >= settings.fit_uid_base
    assert found["pool"] == [1, 2, 3] and found["read again"]
    assert found["missing"] == []


def test_only_what_a_fit_needs_is_shown_from_a_closed_home(settings, closed_home):
    make_tree(
        closed_home,
        {
            "env/lib/site-packages/shared_model.py": "VALUE = 42\n",
            "env/lib/other/private.py": "",
            ".ssh/id_ed25519": "a key",
            ".local/share/jupyter/runtime/jpserver-1.json": '{"token": "t"}',
            "secret.txt": "the worker's",
        },
    )
    site = closed_home / "env/lib/site-packages"
    SECRET_FILE.write_text("root's")
    os.chmod(SECRET_FILE, 0o644)
    sys.path.append(str(site))
    try:

        def check(handle):
            importlib.invalidate_caches()
            shared_model = importlib.import_module("shared_model")
            return {
                "imported": shared_model.VALUE,
                "listing": sorted(os.listdir(closed_home)),
                "root's secret": error_name(lambda: SECRET_FILE.read_text()),
                "secret": error_name(lambda: (closed_home / "secret.txt").read_text()),
                "ssh": error_name(lambda: os.listdir(closed_home / ".ssh")),
                "runtime": error_name(
                    lambda: os.listdir(closed_home / ".local/share/jupyter/runtime")
                ),
                "sibling": error_name(lambda: os.listdir(closed_home / "env/lib/other")),
                "root's ssh": error_name(lambda: os.listdir("/root/.ssh")),
                "root's runtime": error_name(lambda: os.listdir("/root/.local/share/jupyter")),
                "missing": list(handle.missing),
            }

        found = answer_of(settings, check)
    finally:
        sys.path.remove(str(site))
        SECRET_FILE.unlink()
    assert found["imported"] == 42
    assert found["listing"] == ["env"]  # the path to what is needed, nothing else
    for name in ("secret", "ssh", "runtime", "sibling"):
        assert found[name] == "FileNotFoundError:ENOENT", (name, found[name])
    # /root itself is covered where Python lives under it, closed to the fit elsewhere
    for name in ("root's secret", "root's ssh", "root's runtime"):
        assert found[name] in ("FileNotFoundError:ENOENT", "PermissionError:EACCES"), name
    assert found["missing"] == []


def test_bound_paths_are_read_only_even_when_writable_by_all(settings, closed_home):
    """Under a closed directory (through a symbolic link, as conda's envs often are), on
    sys.path, and in an open place (/run) named by readable_paths: the fit reads them and
    writes none, so no fit can plant code that the next one imports."""
    make_tree(closed_home, {"real/models/model.py": "M = 1\n"}, mode=0o777)
    (closed_home / "link").symlink_to("real/models")
    in_the_open = Path("/run") / f"bumps-sandbox-test-{uuid.uuid4().hex[:12]}"
    in_the_open.mkdir(mode=0o755)
    make_tree(in_the_open, {"data/table.txt": "1 2 3\n"}, mode=0o777)
    stdlib = os.path.dirname(os.__file__)
    sys.path.append(str(closed_home / "link"))
    try:
        paths = replace(settings, readable_paths=(str(in_the_open / "data"),))

        def check(handle):
            return {
                "through the link": (closed_home / "link/model.py").read_text(),
                "in the open": (in_the_open / "data/table.txt").read_text(),
                "write on sys.path": error_name(lambda: (closed_home / "link/x.py").write_text("")),
                "write in the open": error_name(lambda: (in_the_open / "data/x").write_text("")),
                "write a pyc": error_name(lambda: os.mkdir(closed_home / "link/__pycache__")),
                "write stdlib": error_name(lambda: open(os.path.join(stdlib, "x.py"), "w")),
                "missing": list(handle.missing),
            }

        found = answer_of(paths, check)
        assert not os.path.lexists(closed_home / "link/x.py")
    finally:
        sys.path.remove(str(closed_home / "link"))
        shutil.rmtree(in_the_open)
    assert found["through the link"] == "M = 1\n"
    assert found["in the open"] == "1 2 3\n"
    for name in ("write on sys.path", "write in the open", "write a pyc"):
        assert found[name] == "OSError:EROFS", (name, found[name])
    assert found["write stdlib"] in ("OSError:EROFS", "PermissionError:EACCES")
    assert found["missing"] == []


def test_what_applies_names_what_stays_unreadable(settings, closed_home):
    """A needed directory that is itself closed cannot be shown; without a mount namespace
    nothing under a closed directory can. The start-up check names them and the fix."""
    make_tree(closed_home, {"closed/a.py": "", "open/b.py": ""})
    os.chmod(closed_home / "closed", 0o700)
    closed, under_closed = str(closed_home / "closed"), str(closed_home / "open")
    with_mounts = sandbox.what_applies(replace(settings, readable_paths=(closed, under_closed)))
    top = tempfile.mkdtemp(prefix="bumps-remote-test-", dir="/tmp")
    os.chmod(top, 0o711)  # fit users must pass through the directories above tmp_root
    try:
        without = sandbox.what_applies(
            replace(
                settings,
                readable_paths=(under_closed,),
                private_mounts=False,
                tmp_root=os.path.join(top, "fits"),
            )
        )
    finally:
        shutil.rmtree(top)
    python = [w for w in with_mounts if w.startswith("python: ")]
    assert len(python) == 1 and closed in python[0] and under_closed not in python[0], python
    python = [w for w in without if w.startswith("python: ")]
    assert len(python) == 1 and under_closed in python[0], python
    assert "chmod o+rX" in python[0] and "fit_user" in python[0]


def test_the_plan_covers_closed_directories_only(closed_home):
    """Which directories are covered and which bound, for a fit uid: a need below another
    that it can reach is shown with it; an open need writable by none is left alone."""
    make_tree(
        closed_home,
        {
            "env/lib/a.py": "",
            "env/lib/inner/closed/deep/b.py": "",
            "env/share/c.txt": "",
        },
    )
    os.chmod(closed_home / "env/lib/inner/closed", 0o700)
    lib, deep = closed_home / "env/lib", closed_home / "env/lib/inner/closed/deep"
    needs = [str(lib), str(lib / "inner"), str(deep), "/usr/lib", str(closed_home / "gone")]
    uid = sandbox.DEFAULT_FIT_UID_BASE + 1
    plan = sandbox._plan_view(needs, uid, uid)
    # the topmost closed directory: /root itself where it is closed to others
    top = str(closed_home) if os.stat("/root").st_mode & stat.S_IXOTH else "/root"
    assert plan.covers == (top, str(closed_home / "env/lib/inner/closed"))
    assert [b for b in plan.binds if b.startswith(str(closed_home))] == [str(lib), str(deep)]
    assert "/usr/lib" not in plan.binds and plan.links == {}
    assert stat.S_IMODE(os.stat(closed_home).st_mode) == 0o700


def test_needed_paths_name_the_python_environment():
    paths = sandbox.needed_paths(["/data/models"])
    assert os.path.dirname(os.__file__) in paths
    assert sys.base_prefix in paths and paths[-1] == "/data/models"
    extension = sys.modules["_ctypes"].__file__
    assert extension and os.path.dirname(extension) in paths


def test_readable_paths_must_be_absolute():
    with pytest.raises(ValueError, match="readable_paths: 'models' is not an absolute path"):
        SandboxSettings(readable_paths=("models",))
    with pytest.raises(ValueError, match="give a list"):
        SandboxSettings(readable_paths="/data")  # pyright: ignore[reportArgumentType]
    listed = SandboxSettings(readable_paths=["/data"])  # pyright: ignore[reportArgumentType]
    assert listed.readable_paths == ("/data",)


def test_a_python_environment_under_tmp_is_shown_read_only_in_the_fits_own_tmp(settings):
    """A checkout and its venv cloned under /tmp (as CI does) stay importable although the
    fit's /tmp is its own tmpfs: they are bound back, read-only; the host's other files in
    /tmp stay hidden, and the fit's own /tmp stays writable."""
    checkout = Path(tempfile.mkdtemp(prefix="bumps-sandbox-checkout-", dir="/tmp"))
    neighbour = Path(tempfile.mkdtemp(prefix="bumps-sandbox-neighbour-", dir="/tmp"))
    try:
        checkout.chmod(0o755)
        make_tree(checkout, {"venv/site/tmp_model.py": "M = 2\n"}, mode=0o777)
        (neighbour / "secret").write_text("not yours")
        site = str(checkout / "venv" / "site")
        sys.path.append(site)
        try:

            def check(handle):
                import tmp_model  # noqa: F401 - found through sys.path, in the bound checkout

                with open("/tmp/own-file", "w") as own:
                    own.write("mine")
                return {
                    "imported": tmp_model.M,
                    "write there": error_name(lambda: open(os.path.join(site, "x.py"), "w")),
                    "neighbour": error_name(lambda: (neighbour / "secret").read_text()),
                    "missing": list(handle.missing),
                }

            found = answer_of(settings, check)
        finally:
            sys.path.remove(site)
    finally:
        shutil.rmtree(checkout)
        shutil.rmtree(neighbour)
    assert found["imported"] == 2
    assert found["write there"] == "OSError:EROFS"
    assert found["neighbour"] in ("FileNotFoundError:ENOENT", "PermissionError:EACCES")
    assert found["missing"] == []
