"""Take the lab down: kill what it started, delete what it made. Safe when nothing is up.

It does not trust lab.json: processes are found through the ``/cflab`` cgroup
tree (daemons, containerd shims, containers, SSH sessions), namespaces and
links by their ``cflab`` names, iptables rules by their comment. The mounts
made inside a host vanish with its last process. Only ``cache/`` survives.
"""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from tests.lab.layout import BRIDGE, IPTABLES_COMMENT, Layout, lab_root
from tests.lab.proc import kill_cgroup_tree, lab_lock, run


def down(root: Path | None = None, say: Callable[[str], None] = print) -> None:
    layout = Layout(root or lab_root())
    started = time.monotonic()
    with lab_lock(layout):
        teardown(layout)
    say(f"lab: down in {time.monotonic() - started:.1f}s")


def teardown(layout: Layout) -> None:
    """Everything of `down` but the lock (``up`` calls it while holding the lock)."""
    layout.state_file.unlink(missing_ok=True)
    kill_cgroup_tree()
    for ns in run(["ip", "netns", "list"], check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith("cflab-"):
            run(["ip", "netns", "delete", name], check=False)
    for line in run(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        link = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if link.startswith("cflab") and link != BRIDGE:
            run(["ip", "link", "delete", link], check=False)
    run(["ip", "link", "delete", BRIDGE], check=False)
    _remove_iptables_rules()
    _unmount_below(layout.root)
    if layout.root.is_dir():
        for child in layout.root.iterdir():
            if child != layout.cache:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()


def _remove_iptables_rules() -> None:
    if shutil.which("iptables") is None:
        return
    listing = run(["iptables", "-w", "-S"], check=False).stdout
    for rule in listing.splitlines():
        words = shlex.split(rule)
        if words[:1] == ["-A"] and IPTABLES_COMMENT in words and "--comment" in words:
            run(["iptables", "-w", "-D", *words[1:]], check=False)


def _unmount_below(root: Path) -> None:
    """Mounts below the lab root seen from here: none, unless a past run went wrong."""
    prefix = str(root) + "/"
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(prefix)
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        run(["umount", "-l", mount], check=False)
