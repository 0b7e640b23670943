"""The extension enables itself on install."""

import subprocess
import sys


def test_jupyter_server_extension_list_shows_it_enabled_and_ok():
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = done.stdout + done.stderr
    assert "jupyter_bumps_remote \x1b[32menabled" in text or "jupyter_bumps_remote enabled" in text
    assert "jupyter_bumps_remote 0." in text and "OK" in text.split("jupyter_bumps_remote 0.")[1]
