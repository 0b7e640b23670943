"""The command JupyterHub's spawner runs for each user's server in the hub tests
(tests/support/hub.py): started as root, it becomes the user and runs the rest of its
command line (the single-user server), after making the test machine's Python reachable.

Why: on a test machine the interpreter may live in a directory other users cannot pass (a
pyenv in root's 0700 home), where no user's server could start. In a mount namespace of its
own (the spawner runs it under `unshare --mount`), each such closed directory is covered by
an empty tmpfs into which only the needed paths are bound back: the user sees the Python and
nothing else of that directory, and the rest of the machine is as it is. Where nothing is
closed, the command only switches user. It then drops root for good (gid, groups, uid) and
execs the server: what runs is a plain process of the user, as LocalProcessSpawner makes it.

    unshare --mount --propagation private python hub_user_server.py \
        [--cover CLOSED=NEEDED ...] -- COMMAND ...

The user is `USER` in its environment, which the spawner sets to the hub user's name.

Standard library only: it runs before the user's environment matters.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys


def mount(*args: str, fds: tuple[int, ...] = ()) -> None:
    subprocess.run(["mount", *args], check=True, pass_fds=fds)


def cover(closed: str, needed: list[str]) -> None:
    """Cover `closed` with an empty tmpfs and bind each of `needed` (paths under it) back.
    The needed paths are opened before the cover and bound through /proc/self/fd."""
    fds = {path: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in needed}
    mount("-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", closed)
    for path, fd in fds.items():
        os.makedirs(path, exist_ok=True)
        # mount(8) would resolve the fd link to the path, now covered: the kernel follows it
        mount("--no-canonicalize", "--bind", f"/proc/self/fd/{fd}", path, fds=(fd,))
        os.close(fd)


def become(user: str) -> None:
    entry = pwd.getpwnam(user)
    os.setgid(entry.pw_gid)
    os.initgroups(user, entry.pw_gid)
    os.setuid(entry.pw_uid)
    if os.getuid() != entry.pw_uid or os.geteuid() == 0:
        raise SystemExit(f"could not become {user}")


def main(argv: list[str]) -> None:
    user = os.environ["USER"]
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    covers: dict[str, list[str]] = {}
    for option, value in zip(options[::2], options[1::2], strict=True):
        if option != "--cover":
            raise SystemExit(f"unknown option {option}")
        closed, needed = value.split("=", 1)
        covers.setdefault(closed, []).append(needed)
    for closed, needed in covers.items():
        cover(closed, needed)
    become(user)
    os.chdir(pwd.getpwnam(user).pw_dir)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
