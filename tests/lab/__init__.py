"""The multi-host test lab: real sshd + dockerd hosts in network namespaces.

    python -m tests.lab up [--hosts N] | down | status | env

Tests get a running lab from the session fixture ``lab`` (tests/conftest.py).
"""

from tests.lab.down import down
from tests.lab.lab import Lab, LabHost, PushedImage
from tests.lab.proc import LabError
from tests.lab.up import missing_prerequisites, up

__all__ = ["Lab", "LabError", "LabHost", "PushedImage", "down", "missing_prerequisites", "up"]
