"""Compose Farm: run docker compose stacks across several hosts over SSH."""

__version__ = "0.1.0"
