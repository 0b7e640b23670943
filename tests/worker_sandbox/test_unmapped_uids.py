"""A worker in a user namespace where the fits' uids are not mapped (a rootless container,
Docker's userns-remap) fails each fit with the sandbox's own error naming the settings to
change, not a bare OSError (EINVAL) that the start-up check could only call a death."""

from __future__ import annotations

import os
import sys
import tempfile

import pytest

from jupyter_bumps_remote.worker.fit import sandbox
from jupyter_bumps_remote.worker.fit.sandbox import SandboxSettings

from ..support.sandboxed import read_to_end, write_all

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="making a user namespace that maps root alone takes root here: Linux, as root",
)


def enter_where_only_root_is_mapped(settings: SandboxSettings) -> str:
    """In a fork: a user namespace mapping its root to ours and nothing else, then the
    sandbox; returns what enter() raised (or 'entered')."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            sandbox._unshare(sandbox.CLONE_NEWUSER)
            for name, text in (("uid_map", "0 0 1"), ("setgroups", "deny"), ("gid_map", "0 0 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
            try:
                sandbox.enter(settings, {write_end})
                said = "entered"
            except sandbox.SandboxError as e:
                said = f"SandboxError: {e}"
            except BaseException as e:  # noqa: BLE001 - reported to the test
                said = f"{type(e).__name__}: {e}"
            write_all(write_end, said.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        return (read_to_end(read_end) or b"no answer").decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)


def test_an_unmapped_fit_uid_fails_naming_the_settings():
    with tempfile.TemporaryDirectory() as tmp_root:
        os.chmod(tmp_root, 0o711)
        said = enter_where_only_root_is_mapped(SandboxSettings(tmp_root=tmp_root + "/fits"))
    assert said.startswith("SandboxError: "), said
    assert "not mapped" in said and "BUMPS_REMOTE_FIT_UID_BASE" in said, said
    assert "BUMPS_REMOTE_FIT_USER" in said, said
