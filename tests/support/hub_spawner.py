"""The spawner of the hub tests (tests/support/hub.py): JupyterHub's LocalProcessSpawner,
each user's server a process of that user's own OS account, except that the switch to the
user happens in the command (tests/support/hub_user_server.py, run by the hub as root in a
mount namespace of its own) instead of before it: the command first makes the test
machine's Python reachable to the user. What runs in the end is what LocalProcessSpawner
runs: the user's uid, gid and groups, the user's home as working directory and HOME."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable

from jupyterhub.spawner import LocalProcessSpawner

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hub_user_server.py")


class OwnUserSpawner(LocalProcessSpawner):
    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        home = pwd.getpwnam(name).pw_dir

        def preexec() -> None:
            os.chdir(home)  # still root here: the launcher drops to the user

        return preexec
