"""A ``docker`` stand-in for the lab's simulated hosts: state in files, time in sleeps.

A simulated host (``python -m tests.lab up --sim-hosts N``) has sshd but no
engine; its SSH sessions find this package's program first on PATH as
``docker`` (tests/lab/sim.py installs it). It keeps the host's containers in
``$CFLAB_SIM_ENGINE/containers.json`` and answers what Compose Farm runs, in
the real CLI's formats:

- ``docker ps [-a] [-q] [--no-trunc] [--filter label=K[=V]|status=S|name=N|id=I]
  [--format TEMPLATE]`` (Go-template actions ``.Field``, ``.Label "k"``,
  ``json .Field``, ``json (.Label "k")``): psformat.py;
- ``docker compose [-p NAME] up -d [--force-recreate] [SERVICE...]``,
  ``down [SERVICE...]``, ``pull``, ``stop``, ``start``, ``restart``, ``ps``,
  ``logs``, ``version``, ``config --hash '*'``, ``config --format json``: the
  project is read from the compose file in the working folder (its ``name:``,
  else the folder's name, as Compose does); its containers carry Compose's
  labels: compose.py;
- ``docker network inspect NAME``, ``docker version``: main.py.

Anything else fails loudly (exit 125), so a simulation never passes by
answering what it does not understand. Each command sleeps until it has taken
as long as the real engine takes for it (``$CFLAB_SIM_LATENCY``, a JSON file of
seconds over ``engine.LATENCY``), counted from the process's start. Each call is
logged to ``calls.log`` in the engine folder. It runs with the system Python,
standard library only, and imports nothing from the project.
"""
