"""Running commands on hosts: command values, output events, local and SSH runners."""

from compose_farm.executor.command import Command, Runnable, Script, compose, docker
from compose_farm.executor.events import Event, OutputLine, Result, Sink, discard
from compose_farm.executor.farm import Executor, gather_bounded

__all__ = [
    "Command",
    "Event",
    "Executor",
    "OutputLine",
    "Result",
    "Runnable",
    "Script",
    "Sink",
    "compose",
    "discard",
    "docker",
    "gather_bounded",
]
