# compose-farm (`cf`) as a container image: `cf web` by default, any cf command otherwise.
#   docker build -t compose-farm .
#   docker run --rm compose-farm --help
# cf talks to the hosts over SSH (asyncssh), so the image has no docker CLI: mount the
# config folder, the compose folder, and ~/.ssh (or an agent socket). See docs/container.md
# and examples/cf-web/.
#
# BASE: any Debian-like image with python3 (>= 3.11) and its venv module.
# Offline builds: put wheels of compose-farm's dependencies (and of setuptools, to build
# compose-farm itself) in docker-wheels/ in the build context; pip then never goes online.
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
LABEL compose-farm.stage=build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . /src
RUN set -eu; \
    if [ -d docker-wheels ]; then set -- --no-index --find-links /src/docker-wheels; fi; \
    python3 -m venv /opt/cf; \
    /opt/cf/bin/pip wheel "$@" --no-deps --wheel-dir /dist .; \
    /opt/cf/bin/pip install "$@" -c requirements/constraints.txt /dist/compose_farm-*.whl; \
    /opt/cf/bin/pip uninstall -y setuptools pip; \
    find /opt/cf -name __pycache__ -prune -exec rm -rf {} +; \
    /opt/cf/bin/python -m compileall -q /opt/cf/lib; \
    /opt/cf/bin/cf --version

FROM ${BASE}
# A fixed, ordinary uid: files you mount (keys, config) must be readable by it.
ARG CF_UID=1000
RUN useradd --uid "${CF_UID}" --user-group --create-home --home-dir /home/cf --shell /bin/sh cf \
 && mkdir -p /home/cf/.ssh /home/cf/.config/compose-farm /home/cf/.local/state /home/cf/.cache \
    /config \
 && chown -R cf:cf /home/cf /config \
 && chmod 700 /home/cf/.ssh
COPY --from=build /opt/cf /opt/cf
ENV PATH=/opt/cf/bin:$PATH \
    HOME=/home/cf \
    PYTHONUNBUFFERED=1 \
    CF_CONFIG=/config/compose-farm.yaml
USER cf
WORKDIR /home/cf
EXPOSE 8000
ENTRYPOINT ["cf"]
# Listens on every interface of the container: publish the port on 127.0.0.1 only, or put
# it behind an HTTPS proxy (docs/container.md).
CMD ["web", "--host", "0.0.0.0", "--port", "8000"]
