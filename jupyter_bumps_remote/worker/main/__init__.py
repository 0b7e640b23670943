"""Code of the worker's main process (Celery's): the app and its settings, the heartbeat that
advertises the worker, start-up checks, warming up before the pool forks, and putting back
the messages of workers that died all at once."""
