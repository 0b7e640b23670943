"""A fit process that builds a session file instead of fitting: the file of a fit that sent
its recipe rather than the file (results.session_recipe), asked for later
(docs/design.md#session-files).

Decoding the payload runs the owner's code, so the build runs where a fit runs: in a fit
process of its own, in the fit sandbox, holding nothing but its pipes. It sends the file,
or why there is none, and exits.
"""

from __future__ import annotations

import json

from ...shared import transport
from .channel import Channel, flush_output
from .fit_settings import FitSettings
from .results import session_from_recipe, too_large


def build(settings: FitSettings, channel: Channel, job: dict, payload: bytes) -> int:
    """Send the session file of `job` (its "session_recipe" and "encoding"); the exit code."""
    try:
        problem = transport.decode(payload)
    except Exception as e:  # noqa: BLE001 - the problem no longer decodes: say why
        return _none(channel, f"its problem did not decode: {type(e).__name__}: {e}")
    try:
        recipe = job["session_recipe"]  # as stored: the JSON text its fit process sent
        data = session_from_recipe(
            problem, json.loads(recipe) if isinstance(recipe, str) else recipe
        )
    except Exception as e:  # noqa: BLE001 - say why, as the fit did when it wrote the file
        return _none(channel, f"bumps could not write it: {type(e).__name__}: {e}")
    if len(data) > settings.max_session_bytes:
        return _none(channel, too_large(len(data), settings.max_session_bytes))
    flush_output()
    channel.session(data)
    return 0


def _none(channel: Channel, why: str) -> int:
    flush_output()
    channel.no_session(why)
    return 0
