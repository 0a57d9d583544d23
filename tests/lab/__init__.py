"""The multi-host test lab: real sshd + dockerd hosts in network namespaces.

    python -m tests.lab up [--hosts N] [--sim-hosts N] | down | status | env

Simulated hosts (sshd and a ``docker`` stand-in, no engine) are for measuring
at scale: tests/lab/sim.py.

Tests get a running lab from the session fixture ``lab`` (tests/conftest.py).
"""

from tests.lab.down import down
from tests.lab.lab import Lab, LabHost, PushedImage, SimHost
from tests.lab.proc import LabError
from tests.lab.sim import up_sims
from tests.lab.up import missing_prerequisites, up

__all__ = [
    "Lab",
    "LabError",
    "LabHost",
    "PushedImage",
    "SimHost",
    "down",
    "missing_prerequisites",
    "up",
    "up_sims",
]
