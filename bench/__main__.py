"""`python -m bench [NAME...]`: run the named benchmarks (default: all that need no lab)."""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "startup": "bench.startup",
    "completion": "bench.completion",
    "plan": "bench.plan",
    "farm": "bench.farm",
    "move": "bench.move",
    "scale": "bench.scale",
    "load": "bench.load",
    "versus": "bench.versus",
    "outdated": "bench.outdated",
    "stats": "bench.stats",
    "webpaint": "bench.webpaint",
}
NEEDS_LAB = frozenset({"farm", "move", "scale", "versus", "outdated", "stats", "webpaint"})
TAKES_OPTIONS = frozenset(
    {"completion", "farm", "move", "scale", "load", "versus", "outdated", "stats", "webpaint"}
)


def main(argv: list[str]) -> None:
    """Run one benchmark with its options (``farm --stacks 30``), or all of them."""
    if argv and argv[0] in BENCHES:
        module = importlib.import_module(BENCHES[argv[0]])
        module.main(argv[1:]) if argv[0] in TAKES_OPTIONS else module.main()
        return
    if argv:
        sys.exit(f"unknown benchmark {argv[0]!r}; choose from: {', '.join(BENCHES)}")
    for name, module_name in BENCHES.items():
        if name not in NEEDS_LAB:
            importlib.import_module(module_name).main()


if __name__ == "__main__":
    main(sys.argv[1:])
