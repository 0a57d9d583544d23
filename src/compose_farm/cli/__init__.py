"""The ``cf`` command line (Typer). Heavy imports stay inside commands so help is fast."""
