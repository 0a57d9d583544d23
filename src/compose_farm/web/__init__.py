"""The web UI: FastAPI + Jinja templates + HTMX, built by ``create_app``."""
