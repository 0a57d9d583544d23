"""Building the repository's Dockerfile in the lab, where no public registry answers.

The Dockerfile starts ``FROM ${BASE}`` (``python:3.12-slim`` for users). Here the base
is Debian 12 itself: ``debootstrap --variant=minbase`` with ``python3`` and
``python3-venv`` from the Debian mirror, trimmed, and imported into a host's
engine with ``docker import``. The lab hosts reach no package index, so the
build context carries a wheelhouse (``docker-wheels/``: compose-farm's
dependencies and setuptools, for the base's Python, downloaded here with pip),
which the Dockerfile installs from when it is there.

Both are cached under ``$CF_TEST_CACHE`` (default ``/var/cache/compose-farm-test``)
and rebuilt when missing: the root filesystem (about a minute) by the Debian suite,
the wheelhouse by the hash of what it was made from. A lock file keeps two
workers from building the same thing at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

from tests.lab import Lab

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PYTHON = "3.11"  # bookworm's python3: the wheels must fit it
PACKAGES = ("python3", "python3-venv")
PLATFORMS = tuple(f"manylinux_2_{v}_x86_64" for v in (5, 17, 26, 28, 31, 34, 36))
# What the build context holds besides the wheelhouse (.dockerignore lets in no more).
CONTEXT_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")
TRIM = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)


def cache_dir() -> Path:
    path = Path(os.environ.get("CF_TEST_CACHE", "/var/cache/compose-farm-test"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    with (cache_dir() / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def base_rootfs() -> Path:
    """The Debian root filesystem with Python, as a tar file (built on first use)."""
    tar = cache_dir() / f"pybase-{SUITE}.tar"
    with _locked(tar.name):
        if tar.is_file():
            return tar
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is missing: run scripts/install-deps.sh")
        with tempfile.TemporaryDirectory(dir=cache_dir()) as scratch:
            root = Path(scratch) / "root"
            done = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(PACKAGES)}",
                    SUITE,
                    str(root),
                    MIRROR,
                ],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"debootstrap failed:\n{done.stdout[-3000:]}{done.stderr}")
            for folder in TRIM:
                for item in (root / folder).glob("*"):
                    if item.is_dir() and not item.is_symlink():
                        shutil.rmtree(item)
                    else:
                        item.unlink()
            partial = tar.with_suffix(".partial")
            subprocess.run(
                ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."],
                check=True,
                timeout=300,
            )
            partial.rename(tar)
    return tar


def _dependencies() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [*project["dependencies"], "setuptools>=68"]  # setuptools: to build compose-farm


def wheelhouse() -> Path:
    """Wheels of compose-farm's dependencies for the base's Python (downloaded once)."""
    constraints = REPO / "requirements" / "constraints.txt"
    wanted = [*_dependencies(), BASE_PYTHON, *PLATFORMS, constraints.read_text()]
    key = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:16]
    folder = cache_dir() / f"wheels-{key}"
    with _locked(folder.name):
        if folder.is_dir():
            return folder
        partial = Path(tempfile.mkdtemp(dir=cache_dir(), prefix="wheels-partial-"))
        argv = [
            *("pip", "download", "--quiet", "--disable-pip-version-check"),
            *("--dest", str(partial), "--only-binary=:all:"),
            *("--python-version", BASE_PYTHON, "--implementation", "cp"),
            *(f"--platform={p}" for p in PLATFORMS),
            *("-c", str(constraints)),
            *_dependencies(),
        ]
        done = subprocess.run(
            [sys.executable, "-m", *argv],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise RuntimeError(f"pip download failed:\n{done.stderr[-3000:]}")
        partial.rename(folder)
    return folder


def build_context(dest: Path) -> Path:
    """The repository's build context (what .dockerignore lets in) plus the wheelhouse."""
    dest.mkdir(parents=True)
    for name in CONTEXT_FILES:
        shutil.copy2(REPO / name, dest / name)
    (dest / "requirements").mkdir()
    shutil.copy2(REPO / "requirements" / "constraints.txt", dest / "requirements")
    shutil.copytree(
        REPO / "src",
        dest / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    shutil.copytree(wheelhouse(), dest / "docker-wheels")
    return dest


def base_image(lab: Lab, host: str) -> str:
    """The base imported into ``host``'s engine (once per root filesystem)."""
    tar = base_rootfs()
    digest = hashlib.sha256(f"{tar.stat().st_size}:{tar.stat().st_mtime_ns}".encode())
    ref = f"cf-test/pybase:{SUITE}-{digest.hexdigest()[:12]}"
    if lab.docker(host, "image", "inspect", ref).returncode == 0:
        return ref
    done = subprocess.run(
        [
            *("docker", "-H", lab.host(host).docker_host, "import"),
            *("--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            *("--change", 'CMD ["python3"]'),
            str(tar),
            ref,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=lab.env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker import on {host}: {done.stderr}")
    return ref


def build(lab: Lab, host: str, tag: str, context: Path, *args: str) -> float:
    """``docker build`` of the Dockerfile on ``host``'s engine (base: ``base_image``); the
    seconds the build took."""
    base = base_image(lab, host)
    began = time.monotonic()
    done = subprocess.run(
        [
            *("docker", "-H", lab.host(host).docker_host, "build", "--quiet"),
            *("--build-arg", f"BASE={base}", "-t", tag, *args, str(context)),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**lab.env(), "DOCKER_BUILDKIT": "0"},  # the lab's 20.10 engines, no buildx
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker build on {host} failed:\n{done.stdout}{done.stderr}")
    return time.monotonic() - began


def image_size(lab: Lab, host: str, ref: str) -> int:
    """Bytes of ``ref`` on ``host``'s engine, base included."""
    done = lab.docker(host, "image", "inspect", "-f", "{{.Size}}", ref, check=True)
    return int(done.stdout.strip())
