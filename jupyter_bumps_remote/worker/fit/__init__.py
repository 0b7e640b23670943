"""Code of a fit process (forked per job from a pool process): the only process that runs the
user's code. It decodes one payload, fits, and sends progress, result and session file."""
