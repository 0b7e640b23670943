"""Put back on their queue the fits that workers held when they died all at once.

kombu redelivers a message whose worker vanished only after the visibility timeout (12 h
by default, above the longest fit). Embedded workers die with their Jupyter server, so when
a server starts its own fresh Redis, every message still marked delivered belongs to a
worker of the previous server that is gone: it can be redelivered now. The job record then
counts a second attempt; a copy that finds a live lease is not run (worker/lease.py).
"""

from __future__ import annotations

from kombu.utils.encoding import bytes_to_str

from ...shared.settings import WorkerSettings


def requeue_unacked(settings: WorkerSettings) -> int:
    """Every delivered, unacked message back onto its queue (kombu's own restore, as its
    visibility sweep does it). Only for a broker whose consumers are all known dead."""
    from .celery_app import make_app

    app = make_app(settings)
    try:
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            client = channel.client
            tags = client.hkeys(channel.unacked_key)
            for tag in tags:
                channel.qos.restore_by_tag(bytes_to_str(tag), client)
            return len(tags)
    finally:
        app.close()
