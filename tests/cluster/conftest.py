"""Workers beyond one machine: a real Slurm (tests/support/slurm.py)."""

from ..support.slurm import slurm, slurm_site  # noqa: F401 - fixtures for tests/cluster
