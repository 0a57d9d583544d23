"""The web UI in a real browser: first contentful paint and bytes, this tree against another.

Both trees serve the same lab farm with their own `cf web` (the other commit is
checked out in a temporary git worktree and run with this interpreter and
libraries, ``PYTHONPATH``). Each load is a fresh browser context (nothing
cached, a first visit) with a login cookie; pages are loaded in alternation
between the trees, so a machine that gets busier weighs on both alike. Loads are
``--gap`` seconds apart (default 2.5): more than the 2 s a server keeps its
snapshot of the farm, so every load asks the hosts, as a visit after a while
does (closer together, which page pays for the hosts' answer depends on the
order, not on the tree).

- FCP: the browser's own ``first-contentful-paint`` entry;
- bytes: what crossed the wire for the page and everything it loaded
  (``transferSize`` of the navigation and of each resource: compressed size
  plus headers);
- DOM ready: ``domContentLoadedEventEnd`` (the deferred scripts have run);
- the page's first byte: ``responseStart`` (how long the server took to answer).

    python -m bench webpaint [--against REV] [--stacks 30] [--hosts 3] [--runs 9] [--gap 2.5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.lab import Lab
from tests.support.browser import chromium
from tests.support.web import WebServer

from bench.farm import Farm
from bench.table import print_table

REPO = Path(__file__).resolve().parent.parent
MEASURE = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const bytes = performance.getEntriesByType('resource')
    .reduce((sum, r) => sum + r.transferSize, nav.transferSize);
  return [fcp ? fcp.startTime : -1, bytes, nav.domContentLoadedEventEnd, nav.responseStart];
}"""


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """``rev`` checked out in a temporary worktree (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="cf-webpaint-") as tmp:
        other = Path(tmp) / "other"
        git = ["git", "-C", str(REPO), "worktree"]
        subprocess.run([*git, "add", "-q", "--detach", str(other), rev], check=True)
        try:
            yield other
        finally:
            subprocess.run([*git, "remove", "--force", str(other)], check=False)


def load(
    browser: Any, server: WebServer, cookie: str, path: str
) -> tuple[float, int, float, float]:
    """(FCP ms, bytes, DOM ready ms, first byte of the page ms) of a first visit to ``path``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    name, _, value = cookie.partition("=")
    context.add_cookies([{"name": name, "value": value, "url": server.url}])
    page = context.new_page()
    try:
        page.goto(f"{server.url}{path}", wait_until="load")
        page.wait_for_function(
            "() => performance.getEntriesByName('first-contentful-paint').length > 0"
        )
        fcp, size, ready, first_byte = page.evaluate(MEASURE)
        return float(fcp), int(size), float(ready), float(first_byte)
    finally:
        context.close()


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench webpaint")
    parser.add_argument("--against", default="8c5f4e4", help="the other commit")
    parser.add_argument("--stacks", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--gap", type=float, default=2.5, help="seconds between loads")
    args = parser.parse_args(argv)
    lab = Lab.load()
    with ExitStack() as stack:
        other = stack.enter_context(worktree(args.against))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cf-webpaint-farm-")))
        (tmp / "farm").mkdir()
        farm = Farm(lab, args.stacks, args.hosts, tmp / "farm")
        farm.cf("up", "--all")
        trees = {"this tree": REPO / "src", args.against: other / "src"}
        servers: dict[str, WebServer] = {}
        for tree, src in trees.items():
            env = {**farm.env, "PYTHONPATH": str(src)}
            log = tmp / f"web-{len(servers)}.log"
            servers[tree] = stack.enter_context(WebServer(farm.config, env, log))
        cookies = {tree: server.login_cookie() for tree, server in servers.items()}
        paths = {"dashboard": "/", "stack page": f"/stack/{farm.names[0]}"}
        samples: dict[tuple[str, str], list[tuple[float, int, float, float]]] = {}
        try:
            with chromium() as browser:
                for i in range(args.runs + 1):  # one untimed round warms the servers
                    for page, path in paths.items():
                        for tree, server in servers.items():
                            time.sleep(args.gap)
                            found = load(browser, server, cookies[tree], path)
                            if i:
                                samples.setdefault((page, tree), []).append(found)
        finally:
            farm.compose_round("down")
            for name in farm.names:
                shutil.rmtree(lab.compose_dir / name, ignore_errors=True)
    rows = []
    for (page, tree), loads in samples.items():
        fcp = statistics.median(f[0] for f in loads)
        size = statistics.median(f[1] for f in loads)
        ready = statistics.median(f[2] for f in loads)
        first = statistics.median(f[3] for f in loads)
        rows.append(
            (page, tree, f"{first:.0f} ms", f"{fcp:.0f} ms", f"{ready:.0f} ms", f"{size:,.0f}")
        )
    title = (
        f"web UI first visit, {args.stacks} stacks on {args.hosts} lab hosts, median of "
        f"{args.runs} (python -m bench webpaint --against {args.against} --stacks "
        f"{args.stacks} --hosts {args.hosts} --runs {args.runs} --gap {args.gap:g})"
    )
    headers = ("page", "tree", "page's first byte", "first contentful paint", "DOM ready", "bytes")
    print_table(title, headers, rows)


if __name__ == "__main__":
    main()
