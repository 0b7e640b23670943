"""`bumps-remote redis-user NAME --admin-url URL`: the fenced Redis user of one owner, for
operators who start user servers without JupyterHub's hooks (hub/spawn.py does the same at
each spawn). Prints the URL the owner's server is to be given (BUMPS_REMOTE_REDIS_URL); with
--disable, turns the user off instead."""

from __future__ import annotations

import argparse
import os
import sys

from ..shared.settings import DEFAULT_PREFIX, DEFAULT_QUEUE_PREFIX, ENV_PREFIX


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "redis-user",
        help="create (or renew) an owner's Redis user fenced to their own jobs; print its URL",
        description=__doc__,
    )
    parser.add_argument("name", help="the owner: the user's name, as their server knows it")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(f"{ENV_PREFIX}REDIS_ADMIN_URL"),
        help=f"a Redis user allowed ACL SETUSER and CLIENT KILL (env {ENV_PREFIX}REDIS_ADMIN_URL)",
    )
    parser.add_argument(
        "--user-url",
        help="Redis as the owner's server reaches it (host, TLS options); its credentials "
        "are replaced (default: the admin URL's host and options)",
    )
    parser.add_argument("--key-prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--queue-prefix", default=DEFAULT_QUEUE_PREFIX)
    parser.add_argument(
        "--disable",
        action="store_true",
        help="turn the user off (no password, its connections closed) instead",
    )


def run(args: argparse.Namespace) -> int:
    import redis.exceptions

    from ..hub.spawn import RedisFence
    from ..shared.redis_url import explain

    if not args.admin_url:
        print(
            f"bumps-remote redis-user: give --admin-url (or {ENV_PREFIX}REDIS_ADMIN_URL)",
            file=sys.stderr,
        )
        return 2
    fence = RedisFence(args.admin_url, args.user_url, args.key_prefix, args.queue_prefix)
    try:
        if args.disable:
            fence.close(args.name)
        else:
            print(fence.open(args.name))
    except (redis.exceptions.RedisError, OSError) as e:
        print(
            f"bumps-remote redis-user: {explain(e, args.admin_url, '--admin-url')}",
            file=sys.stderr,
        )
        return 1
    return 0
