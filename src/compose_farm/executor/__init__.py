"""Running commands on hosts: command values, output events, local and SSH runners.

Operations take any ``ExecutorProtocol``: the real ``Executor`` here, or in tests
the scripted fake (``compose_farm.executor.fake``), which is not exported.
"""

from typing import TYPE_CHECKING

from compose_farm.executor.command import Command, Runnable, Script, compose, docker
from compose_farm.executor.events import Event, OutputLine, Result, Sink, discard, notice
from compose_farm.executor.farm import Executor, gather_bounded
from compose_farm.executor.protocol import ExecutorProtocol

if TYPE_CHECKING:  # mypy proves that the real executor is one operations can take
    _REAL: type[ExecutorProtocol] = Executor

__all__ = [
    "Command",
    "Event",
    "Executor",
    "ExecutorProtocol",
    "OutputLine",
    "Result",
    "Runnable",
    "Script",
    "Sink",
    "compose",
    "discard",
    "docker",
    "gather_bounded",
    "notice",
]
