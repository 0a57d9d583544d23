"""The simulated engine: a host's containers and networks in a JSON file, and how long
each command takes."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the stand-in starts fast: only what it needs at run time
    from collections.abc import Callable
    from typing import Any

# Seconds each command takes on the real lab engine (dockerd 20.10, CLI 28,
# Compose 2.40, one tiny service, an idle host): `python -m bench scale --calibrate`.
LATENCY: dict[str, float] = {
    "ps": 0.015,  # docker ps, plus ps_per_container for each container listed
    "ps_per_container": 0.0005,
    "up": 0.5,  # compose up -d that creates or starts a container
    "up_noop": 0.1,  # compose up -d with everything running
    "down": 0.4,  # compose down that removes containers
    "down_noop": 0.1,
    "pull": 0.1,  # compose pull of an image the registry and host already have
    "stop": 0.3,
    "start": 0.3,
    "restart": 0.6,
    "config": 0.05,  # compose config --hash / --format json
    "other": 0.02,  # compose ps/logs/version, network inspect, docker version
    "scale": 1.0,  # every figure is multiplied by this (0: no sleeping at all)
}
UNSUPPORTED = 125


class Refused(Exception):
    """A command the stand-in does not understand, or one that fails as Docker's would."""

    def __init__(self, message: str, status: int = UNSUPPORTED) -> None:
        super().__init__(message)
        self.status = status


class Engine:
    """One simulated host's containers and networks, in ``folder``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.file = os.path.join(folder, "containers.json")

    def read(self) -> dict[str, Any]:
        try:
            with open(self.file, encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
        except FileNotFoundError:
            return {"containers": [], "networks": []}
        return data

    def change(self, edit: Callable[[dict[str, Any]], str]) -> str:
        """``edit`` the data under an exclusive lock; the file is replaced atomically
        (unless ``edit`` raises). Returns what ``edit`` returns."""
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, "lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            result = edit(data)
            tmp = os.path.join(self.folder, f".containers.{os.getpid()}")
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.file)
            return result


def config_hash(spec: dict[str, Any]) -> str:
    """What the stand-in's ``compose config --hash`` prints and ``up`` stamps: a digest
    of the service as read (Compose's is of its whole resolved service)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def new_container(project: str, service: str, spec: dict[str, Any], file: str) -> dict[str, Any]:
    now = time.time()
    return {
        "config_hash": config_hash(spec),
        "id": os.urandom(32).hex(),
        "name": spec.get("container_name") or f"{project}-{service}-1",
        "project": project,
        "service": service,
        "working_dir": os.path.dirname(file),
        "config_file": file,
        "image": spec.get("image", f"{project}-{service}"),
        "ports": list(spec.get("ports", [])),
        "state": "running",
        "exit_code": 0,
        "created": now,
        "started": now,
        "finished": 0.0,
    }


def latency(path: str | None) -> dict[str, float]:
    """The defaults, overridden by the JSON file at ``path`` (when there is one)."""
    found = dict(LATENCY)
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                found.update(json.load(handle))
        except FileNotFoundError:
            pass
    return found
