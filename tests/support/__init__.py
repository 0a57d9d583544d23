"""Helpers shared by the unit tests (tests/test_*.py) and the lab tests (tests/e2e/).

``cf``: the one way to run the ``cf`` command (to its end, or in the background
read line by line). ``config``: the one way to build a config. ``farm`` and
``privatefarm``: a test's farm over lab hosts. ``faults``: breaking lab hosts and
always putting them back, and the locks that keep such tests apart. ``waiting``:
waiting for an event, never for a fixed time. The rest serve one kind of test
each (``web``, ``traefik``, ``sshd``, ``sshserve``, ``engines``, ``procs``).
"""
