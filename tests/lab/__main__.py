"""``python -m tests.lab up [--hosts N] | down | status | env``."""

from __future__ import annotations

import argparse
import shlex
import sys

from tests.lab.down import down
from tests.lab.lab import Lab
from tests.lab.layout import DEFAULT_HOSTS, lab_root
from tests.lab.proc import LabError
from tests.lab.status import describe
from tests.lab.up import up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="bring the lab up (quick no-op if it is up)")
    start.add_argument("--hosts", type=int, default=None, help=f"default {DEFAULT_HOSTS}")
    commands.add_parser("down", help="stop everything, delete everything but the cache")
    commands.add_parser("status", help="what runs; exit 1 unless the lab is healthy")
    commands.add_parser("env", help="shell exports for using the lab by hand")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(args.hosts)
        elif args.command == "down":
            down()
        elif args.command == "status":
            text, healthy = describe(lab_root())
            print(text)
            return 0 if healthy else 1
        else:
            print(_exports(Lab.load()))
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


def _exports(lab: Lab) -> str:
    env = lab.env()
    lines = [
        '# eval "$(python -m tests.lab env)": a shell that acts as the lab\'s client',
        f"export CF_LAB_DIR={shlex.quote(str(lab.root))}",
        f"export HOME={shlex.quote(env['HOME'])}",
        f"export PATH={shlex.quote(env['PATH'])}",
        f"alias ssh={shlex.quote(f'ssh -F {lab.ssh_config}')}",
    ]
    for h in lab.hosts:
        var = f"CF_LAB_{h.name.upper()}"
        value = shlex.quote(h.docker_host)
        lines.append(f"export {var}={value}  # {h.address}: docker -H ${var} ps")
    lines.append(f"# image: {lab.image}   stacks: {lab.compose_dir}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
