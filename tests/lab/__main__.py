"""``python -m tests.lab up [--hosts N] [--sim-hosts N] | down | status | env``.

The lab is 8 real hosts by default; ``--sim-hosts`` adds simulated ones and
``--sim-latency KEY=SECONDS,...`` sets how long their commands take (tests/lab/sim.py).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from tests.lab.down import down
from tests.lab.lab import Lab
from tests.lab.layout import DEFAULT_HOSTS, lab_root
from tests.lab.proc import LabError
from tests.lab.sim import up_sims
from tests.lab.status import describe
from tests.lab.up import up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="bring the lab up (quick no-op if it is up)")
    start.add_argument("--hosts", type=int, default=None, help=f"default {DEFAULT_HOSTS}")
    start.add_argument(
        "--sim-hosts",
        type=int,
        default=None,
        help="simulated hosts (sshd + a docker stand-in) to have: sim1..simN; 0 removes them",
    )
    start.add_argument(
        "--sim-latency",
        type=_latency,
        default=None,
        metavar="KEY=SECONDS,...",
        help="seconds the stand-in takes (keys of LATENCY in tests/lab/simhost/engine.py)",
    )
    commands.add_parser("down", help="stop everything, delete everything but the cache")
    commands.add_parser("status", help="what runs; exit 1 unless the lab is healthy")
    commands.add_parser("env", help="shell exports for using the lab by hand")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(args.hosts)
            if args.sim_hosts is not None or args.sim_latency is not None:
                current = len(Lab.load().sim_hosts)
                up_sims(
                    current if args.sim_hosts is None else args.sim_hosts, latency=args.sim_latency
                )
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


def _latency(text: str) -> dict[str, float]:
    pairs = (item.partition("=") for item in text.split(",") if item.strip())
    try:
        return {key.strip(): float(value) for key, _, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KEY=SECONDS,..., not {text!r}") from None


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
    for s in lab.sim_hosts:
        lines.append(f"# {s.name} {s.address}: simulated (docker stand-in), engine {s.engine}")
    lines.append(f"# image: {lab.image}   stacks: {lab.compose_dir}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
