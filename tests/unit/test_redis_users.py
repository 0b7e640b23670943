"""The ACL rules of a user server's Redis user (hub/redis_users.py) and the URL it gets
(hub/spawn.py), without Redis: what the rules grant is tried on a real Redis in
tests/hub/test_redis_fence.py."""

from __future__ import annotations

import asyncio
import fnmatch
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from jupyter_bumps_remote.hub import redis_users
from jupyter_bumps_remote.hub.spawn import fence_users, user_url
from jupyter_bumps_remote.store.keys import Keys


def key_pattern(rules: list[str]) -> str:
    (pattern,) = [r[1:] for r in rules if r.startswith("~")]
    return pattern


def redis_glob_match(pattern: str, key: str) -> bool:
    """Redis' glob (backslash escapes) through fnmatch's (brackets escape)."""
    translated = ""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            translated += f"[{pattern[i + 1]}]"
            i += 2
        else:
            translated += pattern[i]
            i += 1
    return fnmatch.fnmatchcase(key, translated)


def test_the_rules_start_from_nothing_and_grant_the_owners_keys_only():
    rules = redis_users.acl_rules("ann", "secret", key_prefix="p:", queue_prefix="q.")
    assert rules[:3] == ["reset", "on", ">secret"]
    assert key_pattern(rules) == "p:u:ann:*"
    assert "-@all" in rules and "+@all" not in rules
    assert not {"+keys", "+scan", "+flushall", "+flushdb", "+config", "+acl", "+info"} & set(rules)
    selectors = [r for r in rules if r.startswith("(")]
    assert "(%W~q.* -@all +lpush)" in selectors  # push only: no read, pop or delete
    assert not any("_kombu" in r or "unacked" in r for r in rules)
    assert not any(r.startswith("&") for r in rules)  # channels only in a PUBLISH selector


def test_no_owners_pattern_matches_another_owners_keys():
    owners = ["a", "a*", "a?", "a[b]", "a\\", "a:b", "a b", "ab", "a%2A", "*", "é"]
    keys = Keys("bumps*[x]:")
    for owner in owners:
        pattern = key_pattern(redis_users.acl_rules(owner, "pw", key_prefix=keys.prefix))
        for other in owners:
            job_key = keys.job(other, "j1")
            assert redis_glob_match(pattern, job_key) == (other == owner), (owner, other)


def test_glob_escape_escapes_every_special_character():
    assert redis_users.glob_escape("a*b?c[d]e\\f") == "a\\*b\\?c\\[d\\]e\\\\f"


def test_user_names_are_quoted_like_the_owners_keys():
    assert redis_users.user_name("a b:c") == "bumps-remote:a%20b%3Ac"
    assert redis_users.user_name("a") != redis_users.user_name("b")


def test_a_users_url_keeps_the_host_and_options_and_has_only_the_users_credentials():
    url = user_url("rediss://admin:root@redis.example:6380/2?ssl_ca_certs=/ca.pem", "a b", "p/w")
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "rediss",
        "redis.example",
        6380,
        "/2",
    )
    assert parts.query == "ssl_ca_certs=/ca.pem"
    assert unquote(parts.username or "") == "bumps-remote:a%20b"
    assert unquote(parts.password or "") == "p/w"
    assert "root" not in url


class Spawner:
    def __init__(self, name: str):
        self.user = type("User", (), {"name": name})()
        self.environment: dict[str, str] = {}


def test_fence_users_chains_the_hooks_already_set(monkeypatch):
    from traitlets.config import Config

    seen = []
    c = Config()
    c.Spawner.pre_spawn_hook = lambda spawner: seen.append(("pre", spawner.user.name))
    fence = fence_users(c, "redis://admin:root@h:1/0", key_prefix="p:")
    monkeypatch.setattr(fence, "open", lambda owner: f"url-of-{owner}")
    closed = []
    monkeypatch.setattr(fence, "close", closed.append)

    spawner = Spawner("ann")
    pre_spawn: Any = c.Spawner.pre_spawn_hook
    asyncio.run(pre_spawn(spawner))
    assert seen == [("pre", "ann")]
    assert spawner.environment == {"BUMPS_REMOTE_REDIS_URL": "url-of-ann"}
    post_stop: Any = c.Spawner.post_stop_hook
    asyncio.run(post_stop(spawner))  # none was set before: only the fence's
    assert closed == ["ann"]


def test_a_queue_prefix_that_overlaps_the_keys_or_kombus_is_refused():
    """Users may LPUSH onto `{queue_prefix}*`: overlapping prefixes would let them push onto
    another owner's keys or kombu's (tests/hub/test_fence_probes.py probes the rest)."""
    for key_prefix, queue_prefix in [
        ("bumps-remote:", "bumps-remote:"),
        ("bumps-remote:", "bumps"),
        ("app:", "app:queues."),
        ("p:", ""),
        ("p:", "_kombu.binding."),
        ("p:", "unacked"),
        ("p:", "u"),
    ]:
        with pytest.raises(ValueError, match="queue prefix"):
            redis_users.acl_rules("ann", "pw", key_prefix=key_prefix, queue_prefix=queue_prefix)
    redis_users.acl_rules("ann", "pw", key_prefix="bumps-remote:", queue_prefix="bumps-remote.")
