"""The Redis URL: TLS defaults, masking, and errors that name the cause and the setting."""

from __future__ import annotations

import ssl

import pytest
import redis.exceptions

from jupyter_bumps_remote.shared.redis_url import classify, explain, masked, normalize
from jupyter_bumps_remote.shared.settings import WorkerSettings


def test_rediss_checks_certificates_unless_told_otherwise():
    assert normalize("rediss://u:p@h:6380/0") == "rediss://u:p@h:6380/0?ssl_cert_reqs=required"
    with_ca = normalize("rediss://h/0?ssl_ca_certs=/etc/ca.pem")
    assert with_ca == "rediss://h/0?ssl_ca_certs=/etc/ca.pem&ssl_cert_reqs=required"
    assert normalize("rediss://h/0?ssl_cert_reqs=none") == "rediss://h/0?ssl_cert_reqs=none"
    assert normalize("redis://u:p@h/0") == "redis://u:p@h/0"
    assert normalize("unix:///run/redis.sock") == "unix:///run/redis.sock"
    # every client of the worker and server gets the URL through the settings
    assert WorkerSettings(redis_url="rediss://h/0").redis_url.endswith("ssl_cert_reqs=required")


def test_masked_hides_the_password_only():
    assert masked("rediss://bumps:s3cret@h:6380/0?x=1") == "rediss://bumps:**@h:6380/0?x=1"
    assert masked("redis://:s3cret@h/0") == "redis://:**@h/0"
    assert masked("redis://h:6379/0") == "redis://h:6379/0"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://h:6379/0?password=s3cret", "redis://h:6379/0?password=**"),
        ("redis://bumps@h/0?db=1&password=s3cret", "redis://bumps@h/0?db=1&password=**"),
        ("unix:///run/r.sock?password=s3cret", "unix:///run/r.sock?password=**"),
        # the passphrase of a TLS client key is a password too
        ("rediss://:s3cret@h/0?ssl_password=s3cret", "rediss://:**@h/0?ssl_password=**"),
        ("redis://u:s3cret@[not-a-host", "<a Redis URL that does not parse>"),
    ],
)
def test_masked_hides_a_password_in_the_query_too(url, shown):
    assert masked(url) == shown


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("redis://h:6379/0?password=s%40cret", "redis://:s%40cret@h:6379/0"),
        ("redis://h/0?username=bob&password=p&db=2", "redis://bob:p@h/0?db=2"),
        ("redis://bob@h/0?password=p", "redis://bob:p@h/0"),
        # redis-py prefers the user and password before the host: so does the URL both read
        ("redis://al:q@h/0?username=bob&password=p", "redis://al:q@h/0"),
        ("unix:///run/r.sock?password=p&db=1", "unix://:p@/run/r.sock?db=1"),
        ("rediss://h/0?password=p", "rediss://:p@h/0?ssl_cert_reqs=required"),
    ],
)
def test_a_password_in_the_query_moves_before_the_host(url, normal):
    """kombu cannot read `?password=` (TypeError: multiple values for 'password'): the
    broker would never connect. Moved, both libraries read the same credentials."""
    from kombu.utils.url import parse_url
    from redis.connection import parse_url as redis_parse_url

    assert normalize(url) == normal
    ours = redis_parse_url(normal)
    assert ours.get("password") == redis_parse_url(url).get("password")
    if not normal.startswith("unix"):
        assert parse_url(normal)["password"] == ours["password"]
    assert masked(normal).count("**") == 1 and "p@" not in masked(normal)


@pytest.mark.parametrize(
    ("error", "url", "kind", "fragment"),
    [
        (
            redis.exceptions.AuthenticationError("invalid username-password pair"),
            "redis://bumps:s3cret@h/0",
            "credentials",
            "refused the credentials",
        ),
        (
            redis.exceptions.ResponseError("NOAUTH Authentication required."),
            "redis://h/0",
            "credentials",
            "refused the credentials",
        ),
        (
            redis.exceptions.NoPermissionError(
                "this user has no permissions to access one of the channels used as arguments"
            ),
            "redis://bumps:s3cret@h/0",
            "permissions",
            "&*",
        ),
        (
            redis.exceptions.ConnectionError("Connection closed by server."),
            "redis://bumps:s3cret@h/0",
            "closed",  # Redis going down, or a TLS-only server: the message says both
            "not reachable",
        ),
        (
            ssl.SSLCertVerificationError("certificate verify failed"),
            "rediss://bumps:s3cret@h/0",
            "tls",
            "ssl_ca_certs=",
        ),
        (
            redis.exceptions.ConnectionError("Error 111 connecting to h:6379. Connection refused."),
            "redis://bumps:s3cret@h/0",
            "unreachable",
            "not reachable",
        ),
    ],
)
def test_errors_name_the_cause_and_the_setting_never_the_password(error, url, kind, fragment):
    assert classify(error, url) == kind
    message = explain(error, url, "THE_SETTING")
    assert fragment in message, message
    if kind != "unreachable":  # say what to change
        assert "THE_SETTING" in message, message
    if kind == "closed":
        assert "use rediss://" in message
        tls_only = explain(error, url, "THE_SETTING", speaks_tls=True)
        assert "accepts TLS only" in tls_only and "not reachable" not in tls_only
    assert "s3cret" not in message
    # a client of the server learns the cause and the setting, not where Redis is or as whom
    for_client = explain(error, url, "THE_SETTING", detail=False)
    assert fragment in for_client, for_client
    assert "h:6379" not in for_client and "redis://bumps" not in for_client
    assert "bumps" not in for_client.replace("bumps-remote", ""), for_client
    assert str(error).rstrip(".") not in for_client
