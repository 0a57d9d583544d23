"""A corpus of compose projects read by cf and by ``docker compose config`` (the oracle).

``stacks/`` holds hand-written, real-world-shaped stacks; ``generator.py``
writes seeded edge cases; ``oracle.py`` runs both readers and compares what cf
uses. See docs/compose-oracle.md.
"""
