"""Terminal presentation of output events: ``[stack]`` prefixes, stable colours, a summary."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.text import Text

from compose_farm.executor.events import Event, OutputLine, Result
from compose_farm.operations.lifecycle import Outcome

PALETTE = (
    "cyan",
    "green",
    "magenta",
    "blue",
    "yellow",
    "bright_cyan",
    "bright_green",
    "bright_magenta",
    "bright_blue",
    "dark_orange",
)


def colour_of(name: str) -> str:
    """The same name always gets the same colour, run after run."""
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


class Printer:
    """A sink that prints each event as it arrives.

    ``multi_host`` stacks are prefixed ``[stack@host]`` so lines from their
    hosts can be told apart; ``mask`` hides secret values before printing.
    """

    def __init__(
        self,
        console: Console,
        multi_host: set[str],
        mask: Callable[[str | None, str], str] | None = None,
    ) -> None:
        self.console = console
        self.multi_host = multi_host
        self.mask = mask or (lambda _stack, text: text)

    def prefix(self, stack: str | None, host: str) -> Text:
        """``[stack]``, ``[stack@host]`` or ``[host]`` in the stack's colour."""
        if stack is None:
            label = host
        elif stack in self.multi_host:
            label = f"{stack}@{host}"
        else:
            label = stack
        return Text(f"[{label}]", style=colour_of(stack or host))

    def __call__(self, event: Event) -> None:
        if isinstance(event, OutputLine):
            if not event.line.strip():
                return
            if event.stack is None and not event.host:  # about the farm: no prefix
                style = "yellow" if event.stream == "stderr" else "dim"
                text = Text(self.mask(None, event.line), style=style)
                self.console.print(text, soft_wrap=True, highlight=False)
                return
            line = Text.assemble(self.prefix(event.stack, event.host), " ")
            body = self.mask(event.stack, event.line)
            line.append(body, style="bold" if event.stream == "info" else "")
            self.console.print(line, soft_wrap=True, highlight=False)
        elif isinstance(event, Result) and event.error is not None:
            line = Text.assemble(self.prefix(event.stack, event.host), " ")
            line.append(self.mask(event.stack, event.error), style="red")
            self.console.print(line, soft_wrap=True, highlight=False)


def summary(
    console: Console,
    outcomes: Sequence[Outcome],
    verb: str,
    *,
    quiet: bool = False,
    mask: Callable[[str | None, str], str] | None = None,
) -> bool:
    """Print failures (and notes), then a count; True when everything succeeded.

    ``quiet`` (logs, compose passthrough) prints nothing when all went well.
    """
    hide = mask or (lambda _stack, text: text)
    failed = [o for o in outcomes if not o.ok]
    for outcome in outcomes:
        if outcome.ok and outcome.message:
            message = hide(outcome.stack, outcome.message)
            console.print(Text.assemble(("✓ ", "green"), f"{outcome.stack}: {message}"))
    if failed:
        console.print(
            Text(f"\n{len(failed)} of {len(outcomes)} stacks failed to {verb}:", "bold red")
        )
        for outcome in failed:
            console.print(
                Text.assemble(
                    ("✗ ", "red"),
                    (outcome.stack, "bold"),
                    f": {hide(outcome.stack, outcome.message)}",
                )
            )
    elif not quiet:
        console.print(Text(f"{verb}: {len(outcomes)} stacks ok", "green"))
    return not failed
