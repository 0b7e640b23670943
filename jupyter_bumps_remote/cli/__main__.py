"""`python -m jupyter_bumps_remote.cli` is `bumps-remote`."""

from .main import main

raise SystemExit(main())
