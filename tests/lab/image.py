"""Test images: a busybox root filesystem pushed straight to the lab registry.

The layer is built in Python from Debian's static ``/bin/busybox`` (one link
per applet) and is deterministic: the same marker always gives the same
digest. It is pushed with the registry's HTTP API rather than through one
host's engine, so pushing a new version changes the registry and nothing
else: every host's engine keeps what it had until it pulls.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import subprocess
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.lab.layout import REGISTRY
from tests.lab.proc import LabError

BUSYBOX = Path("/bin/busybox")
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
CREATED = "2000-01-01T00:00:00Z"
_MTIME = 946684800  # CREATED, for every tar entry
_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
MARKER_LABEL = "cflab.marker"

# Never through a proxy: the registry is a lab address.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Reference:
    """``registry/repository:tag``."""

    registry: str
    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @classmethod
    def parse(cls, ref: str) -> Reference:
        """Full (``10.251.0.1:5000/cflab/app:2``) or short (``app:2``, ``cflab/app``)."""
        if ref.startswith(REGISTRY + "/"):
            ref = ref[len(REGISTRY) + 1 :]
        name, _, tag = ref.rpartition(":") if ":" in ref else (ref, "", "latest")
        if "/" not in name:
            name = f"cflab/{name}"
        return cls(REGISTRY, name, tag)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _applets() -> list[str]:
    out = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout
    return sorted(name for name in out.split() if name and name != "busybox" and "/" not in name)


def _entry(name: str, kind: bytes, mode: int, link: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.size = kind, mode, link, size
    info.mtime, info.uid, info.gid, info.uname, info.gname = _MTIME, 0, 0, "root", "root"
    return info


def layer_tar(marker: str) -> bytes:
    """An uncompressed root filesystem: busybox, its applets, /etc, /www, /marker."""
    busybox = BUSYBOX.read_bytes()
    files: dict[str, bytes] = {
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
        "www/index.html": f"cflab {marker}\n".encode(),
        "marker": f"{marker}\n".encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)):
            tar.addfile(_entry(name, tarfile.DIRTYPE, mode))
        for name in ("usr", "var", "www"):
            tar.addfile(_entry(name, tarfile.DIRTYPE, 0o755))
        for name, target in (("sbin", "bin"), ("usr/bin", "../bin"), ("usr/sbin", "../bin")):
            tar.addfile(_entry(name, tarfile.SYMTYPE, 0o777, target))
        tar.addfile(
            _entry("bin/busybox", tarfile.REGTYPE, 0o755, size=len(busybox)), io.BytesIO(busybox)
        )
        for applet in _applets():
            tar.addfile(_entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777, "busybox"))
        for name, data in files.items():
            tar.addfile(_entry(name, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


@dataclass(frozen=True)
class Image:
    """An image as the registry stores it: one layer, a config, a manifest."""

    layer: bytes
    config: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        """The manifest digest: what ``RepoDigests`` shows after a pull."""
        return _sha256(self.manifest)


def build_image(marker: str, cache: Path) -> Image:
    """The busybox image carrying ``marker`` (file /marker and label cflab.marker)."""
    key = hashlib.sha256(BUSYBOX.read_bytes() + marker.encode()).hexdigest()[:16]
    cached = cache / f"layer-{key}.tar.gz"
    diff_id_file = cached.with_suffix(".diffid")
    if cached.is_file() and diff_id_file.is_file():
        layer, diff_id = cached.read_bytes(), diff_id_file.read_text()
    else:
        tar = layer_tar(marker)
        layer, diff_id = gzip.compress(tar, mtime=0), _sha256(tar)
        cache.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(layer)
        diff_id_file.write_text(diff_id)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = {
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": {
            "Env": [f"PATH={_PATH}"],
            "Cmd": ["sh"],
            "WorkingDir": "/",
            "Labels": {MARKER_LABEL: marker},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": CREATED, "created_by": f"tests.lab.image marker={marker}"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {
            "mediaType": CONFIG_V1,
            "size": len(config_bytes),
            "digest": _sha256(config_bytes),
        },
        "layers": [{"mediaType": LAYER_GZIP, "size": len(layer), "digest": _sha256(layer)}],
    }
    manifest_bytes = json.dumps(manifest, indent=3).encode()
    return Image(layer, config_bytes, manifest_bytes)


# --- the registry's HTTP API ---------------------------------------------


def _request(
    method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}
    except OSError as exc:
        raise LabError(f"registry {method} {url}: {exc}") from exc


def _put_blob(ref: Reference, data: bytes) -> None:
    base = f"http://{ref.registry}/v2/{ref.repository}/blobs"
    digest = _sha256(data)
    if _request("HEAD", f"{base}/{digest}")[0] == 200:
        return
    status, headers = _request("POST", f"{base}/uploads/")
    location = headers.get("location", "")
    if status != 202 or not location:
        raise LabError(f"registry refused an upload to {ref.repository} (HTTP {status})")
    if location.startswith("/"):
        location = f"http://{ref.registry}{location}"
    sep = "&" if "?" in location else "?"
    status, _ = _request(
        "PUT",
        f"{location}{sep}digest={digest}",
        data,
        {"Content-Type": "application/octet-stream"},
    )
    if status != 201:
        raise LabError(f"registry refused blob {digest} for {ref.repository} (HTTP {status})")


def push(ref: Reference, image: Image, name: str | None = None) -> str:
    """Push ``image`` as ``ref`` (or, with ``name``, under that tag or digest); return
    the manifest digest."""
    _put_blob(ref, image.layer)
    _put_blob(ref, image.config)
    return _put_manifest(ref, name or ref.tag, image.manifest, MANIFEST_V2)


def _put_manifest(ref: Reference, name: str, body: bytes, media_type: str) -> str:
    url = f"http://{ref.registry}/v2/{ref.repository}/manifests/{name}"
    status, headers = _request("PUT", url, body, {"Content-Type": media_type})
    if status != 201:
        raise LabError(f"registry refused manifest {ref.repository}:{name} (HTTP {status})")
    return headers.get("docker-content-digest", _sha256(body))


MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def push_index(ref: Reference, native: Image, foreign: Image, foreign_arch: str) -> str:
    """Push a multi-arch index as ``ref``: ``native`` for this machine's platform, ``foreign``
    for ``foreign_arch`` (each pushed by digest first); return the index's digest."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    entries = [
        {
            "mediaType": MANIFEST_V2,
            "size": len(image.manifest),
            "digest": push(ref, image, image.digest),
            "platform": {"architecture": architecture, "os": "linux"},
        }
        for image, architecture in ((native, arch), (foreign, foreign_arch))
    ]
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": MANIFEST_LIST, "manifests": entries}, indent=3
    ).encode()
    return _put_manifest(ref, ref.tag, index, MANIFEST_LIST)


def registry_digest(ref: Reference) -> str | None:
    """The digest the registry serves for ``ref`` now, or None if it has no such tag."""
    url = f"http://{ref.registry}/v2/{ref.repository}/manifests/{ref.tag}"
    status, headers = _request("HEAD", url, headers={"Accept": MANIFEST_V2})
    return headers.get("docker-content-digest") if status == 200 else None


def registry_up(registry: str = REGISTRY) -> bool:
    try:
        return _request("GET", f"http://{registry}/v2/")[0] == 200
    except LabError:
        return False
