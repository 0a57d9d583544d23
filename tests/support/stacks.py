"""Compose files for tests: services that sleep and stop at once, with what a test needs."""

from __future__ import annotations

from collections.abc import Sequence


def sleep_stack(image: str, services: Sequence[str] = ("app",), extra: str = "") -> str:
    """A compose file of ``services`` that sleep and stop at once (tini as PID 1).

    ``extra``: more lines for each service, indented by four spaces.
    """
    parts = ["services:\n"]
    for service in services:
        parts.append(
            f"  {service}:\n"
            f"    image: {image}\n"
            '    command: ["sleep", "3600"]\n'
            "    init: true\n"
            "    stop_grace_period: 1s\n"
            f"{extra}"
        )
    return "".join(parts)


def needy_stack(image: str, *, mount: str | None = None, network: str | None = None) -> str:
    """A sleeping ``app`` that needs a bind-mount source (long syntax: Compose does not
    create it) and/or an external network."""
    extra = ""
    if mount is not None:
        extra += f"    volumes:\n      - {{type: bind, source: {mount}, target: /data}}\n"
    if network is not None:
        extra += "    networks: [ext]\n"
    text = sleep_stack(image, extra=extra)
    if network is not None:
        text += f"networks:\n  ext:\n    external: true\n    name: {network}\n"
    return text


def slow_stack(image: str, port: int | None = None) -> str:
    """A stack whose `up -d` waits about 2 s for `gate` to be healthy, so an action's
    output arrives while its task still runs; `app` optionally publishes ``port``."""
    ports = f'    ports: ["{port}:8080"]\n' if port is not None else ""
    return (
        "services:\n"
        "  gate:\n"
        f"    image: {image}\n"
        '    command: ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 3600"]\n'
        "    init: true\n"
        "    stop_grace_period: 1s\n"
        "    healthcheck:\n"
        '      test: ["CMD", "test", "-f", "/tmp/ready"]\n'
        "      interval: 1s\n"
        "      timeout: 1s\n"
        "      retries: 30\n"
        "  app:\n"
        f"    image: {image}\n"
        '    command: ["sleep", "3600"]\n'
        "    init: true\n"
        "    stop_grace_period: 1s\n"
        f"{ports}"
        "    depends_on:\n"
        "      gate:\n"
        "        condition: service_healthy\n"
    )
