"""What shows a worker's settings (Celery's `inspect conf`, hence Flower's worker page, logs)
shows them by their repr: never the Redis password."""

from jupyter_bumps_remote.shared.settings import WorkerSettings


def test_the_repr_of_worker_settings_masks_the_redis_password():
    settings = WorkerSettings(redis_url="rediss://bumps:s3cret-pw@redis.example.org:6380/0")
    shown = repr(settings)
    assert "s3cret-pw" not in shown
    assert "rediss://bumps:**@redis.example.org:6380/0" in shown
    assert "lease_seconds=3.0" in shown  # the other settings are still there
