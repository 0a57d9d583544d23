"""Allow ``python -m compose_farm``."""

from compose_farm.cli.app import main

main()
