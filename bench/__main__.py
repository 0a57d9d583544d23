"""`python -m bench [NAME...]`: run the named benchmarks (default: all that need no lab)."""

from __future__ import annotations

import importlib
import sys

BENCHES = {"startup": "bench.startup"}


def main(argv: list[str]) -> None:
    """Run each named benchmark's ``main``."""
    names = argv or list(BENCHES)
    for name in names:
        if name not in BENCHES:
            sys.exit(f"unknown benchmark {name!r}; choose from: {', '.join(BENCHES)}")
        importlib.import_module(BENCHES[name]).main()


if __name__ == "__main__":
    main(sys.argv[1:])
