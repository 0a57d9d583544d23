"""``cf ssh`` against real sshd: keygen, trust, setup, status, and which key logs in.

cf runs as a user runs it, with HOME set to a copy of the lab client's home
(``client_home``), so keys and known_hosts can change without touching other
tests. Outcomes are read on the host itself (root's authorized_keys inside
h6, the accepted key in h6's sshd log, its engine), not only from cf's output.

Every test that changes a lab host uses h6 only, under ``changed_sshd`` (tests/support/sshd.py):
the fault-hosts lock, private bind mounts inside h6, all undone on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.lab import Lab
from tests.support.cf import CfRun, run_cf
from tests.support.config import write_config
from tests.support.farm import FarmFactory, on
from tests.support.faults import cut, stopped_sshd
from tests.support.sshd import HostSshd, changed_sshd
from tests.support.sshserve import agent_holding

SIX = "h6"
SIX_ADDRESS = "10.251.0.16"
TIMEOUT = 3.0
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]+")
CF_KEY_LOG = "logged in with cf's key"
FILES_LOG = "logged in with key SHA256:"
AGENT_LOG = "logged in with ssh-agent key SHA256:"

Fault = Callable[[Lab, str], AbstractContextManager[None]]


# --- the client side ---------------------------------------------------------------


def fingerprint(pub: Path) -> str:
    """``ssh-keygen -lf``'s SHA256 fingerprint of a public key file."""
    done = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    )
    return done.stdout.split()[1]


def client_home(
    lab: Lab, dest: Path, *, client_key: bool = True, forget: Sequence[str] = ()
) -> Path:
    """A copy of the lab client's HOME whose ssh config points into the copy.

    ``client_key=False``: no ``~/.ssh/id_ed25519`` and no ``IdentityFile``, so
    only cf's own key (or an agent) can log in. ``forget``: addresses left out
    of ``~/.ssh/known_hosts``.
    """
    # cm/ holds ControlMaster sockets of raw-mode runs: sockets cannot be copied
    shutil.copytree(lab.client_home, dest, ignore=shutil.ignore_patterns("cm"))
    ssh = dest / ".ssh"
    lines = (ssh / "config").read_text().replace(str(lab.client_home), str(dest)).splitlines()
    if not client_key:
        (ssh / "id_ed25519").unlink()
        (ssh / "id_ed25519.pub").unlink()
        lines = [line for line in lines if line.split()[:1] != ["IdentityFile"]]
    (ssh / "config").write_text("\n".join(lines) + "\n")
    known = (ssh / "known_hosts").read_text().splitlines()
    (ssh / "known_hosts").write_text(
        "".join(line + "\n" for line in known if line.split(" ", 1)[0] not in forget)
    )
    return dest


@dataclass(frozen=True)
class Client:
    """cf as a user with their own HOME runs it (stdin a pipe or /dev/null, never a TTY)."""

    home: Path
    config: Path
    base_env: dict[str, str]

    @property
    def farm_dir(self) -> Path:
        return self.home / ".ssh" / "compose-farm"

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    @property
    def farm_known_hosts(self) -> Path:
        return self.farm_dir / "known_hosts"

    @property
    def dedicated_pub(self) -> Path:
        return self.farm_dir / "id_ed25519.pub"

    def cf(self, *args: str, stdin: str | None = None, **env: str) -> CfRun:
        return run_cf(
            *args,
            base=self.base_env,
            env={"HOME": str(self.home), "CF_CONFIG": str(self.config), **env},
            cwd=self.config.parent,
            stdin=stdin,
        )

    def status(self, *hosts: str) -> tuple[CfRun, dict[str, dict[str, str]]]:
        """``cf ssh status --json``: the run and its rows by host."""
        done = self.cf("ssh", "status", "--json", *hosts)
        rows = {r["host"]: r for r in json.loads(done.stdout)["hosts"]} if done.stdout else {}
        return done, rows


def lab_client(lab: Lab, tmp_path: Path, hosts: Sequence[str], **home: Any) -> Client:
    """cf with its own HOME over ``hosts`` (as root) and no stacks."""
    config = write_config(
        tmp_path,
        compose_dir=lab.compose_dir,
        hosts={h: {"address": lab.host(h).address, "user": "root"} for h in hosts},
        ssh={"connect_timeout": TIMEOUT},
    )
    return Client(client_home(lab, tmp_path / "home", **home), config, lab.env())


def farm_lines(client: Client, address: str) -> list[str]:
    """cf's known_hosts lines for ``address``."""
    if not client.farm_known_hosts.exists():
        return []
    lines = client.farm_known_hosts.read_text().splitlines()
    return [line for line in lines if line.split()[0] == address]


def pub_key(pub: Path) -> list[str]:
    """A public key file's type and base64 fields (no comment)."""
    return pub.read_text().split()[:2]


@pytest.fixture
def h6(lab: Lab) -> Iterator[HostSshd]:
    """h6 held for this test alone, put back exactly as the lab made it."""
    if SIX not in {h.name for h in lab.hosts}:
        pytest.skip(
            "the lab has no h6: python -m tests.lab down && python -m tests.lab up --hosts 6"
        )
    with changed_sshd(lab, SIX) as sshd:
        yield sshd


# --- keygen: no lab needed ---------------------------------------------------------------


def _plain_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "CF_CONFIG")}
    return {**env, "HOME": str(home)}


def _local_client(tmp_path: Path) -> Client:
    config = write_config(tmp_path, compose_dir=tmp_path, hosts={"here": "127.0.0.1"})
    home = tmp_path / "home"
    home.mkdir()
    return Client(home, config, _plain_env(home))


def test_keygen_makes_the_key_once_and_force_replaces_it(tmp_path: Path) -> None:
    client = _local_client(tmp_path)
    key = client.farm_dir / "id_ed25519"

    first = client.cf("ssh", "keygen")
    assert first.returncode == 0, first
    assert key.stat().st_mode & 0o777 == 0o600
    assert client.farm_dir.stat().st_mode & 0o777 == 0o700
    assert pub_key(client.dedicated_pub)[0] == "ssh-ed25519"
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, check=True)
    assert derived.stdout.decode().split()[:2] == pub_key(client.dedicated_pub)  # the pair matches
    original = (key.read_bytes(), client.dedicated_pub.read_bytes())

    again = client.cf("ssh", "keygen")
    assert again.returncode == 0, again
    assert "already exists" in again.stdout, again
    assert (key.read_bytes(), client.dedicated_pub.read_bytes()) == original

    forced = client.cf("ssh", "keygen", "--force")
    assert forced.returncode == 0, forced
    assert key.read_bytes() != original[0]
    assert client.dedicated_pub.read_bytes() != original[1]
    assert key.stat().st_mode & 0o777 == 0o600


def test_setup_with_the_public_half_missing_explains_without_a_traceback(
    tmp_path: Path,
) -> None:
    client = _local_client(tmp_path)
    assert client.cf("ssh", "keygen").returncode == 0
    client.dedicated_pub.unlink()

    done = client.cf("ssh", "setup", "--yes")

    assert "Traceback" not in done.output, done


# --- setup: the password prompt, then the key ----------------------------------------------


@pytest.mark.xdist_group("faults")
def test_setup_installs_the_key_with_a_password_once(
    lab: Lab, tmp_path: Path, h6: HostSshd
) -> None:
    """h6 takes root's password, and nothing in our HOME is authorized there yet."""
    client = lab_client(lab, tmp_path, [SIX], client_key=False)
    h6.allow_password("cf-test-pw")
    before = h6.authorized_keys()
    logins_before = h6.password_logins()  # the log keeps earlier runs' logins
    tries_before = h6.password_tries()

    no_stdin = client.cf("ssh", "setup", SIX, "--yes")  # nobody to type a password

    assert no_stdin.returncode == 1, no_stdin
    assert f"{SIX}: no password given" in no_stdin.stderr, no_stdin
    assert "Traceback" not in no_stdin.output, no_stdin
    assert h6.authorized_keys() == before
    assert h6.password_tries() == tries_before  # no empty password was tried either

    first = client.cf("ssh", "setup", SIX, "--yes", stdin="cf-test-pw\n")

    assert first.returncode == 0, first
    assert f"{SIX}: password for root@{SIX_ADDRESS}" in first.stderr, first
    assert f"{SIX}: key installed" in first.stdout, first
    ours = client.dedicated_pub.read_text().strip()
    assert h6.authorized_keys() == [ours, *before]  # a line of its own, before the owner's
    assert h6.password_logins() - logins_before == 1

    accepted = len(h6.accepted_keys())
    status = client.cf("-v", "ssh", "status", SIX)
    assert status.returncode == 0, status
    assert re.search(rf"^\s*{SIX}\s+root@{SIX_ADDRESS}\s+known\s+ok\s", status.stdout, re.M), status
    assert CF_KEY_LOG in status.stderr, status
    assert h6.accepted_keys()[accepted:] == [fingerprint(client.dedicated_pub)]

    second = client.cf("ssh", "setup", SIX, "--yes", stdin="")
    assert second.returncode == 0, second
    assert "password" not in second.stderr, second
    assert f"{SIX}: key already installed" in second.stdout, second
    assert h6.authorized_keys().count(ours) == 1
    assert h6.password_logins() - logins_before == 1


@pytest.mark.xdist_group("faults")
def test_setup_again_logs_in_with_cfs_key_and_asks_no_password(
    lab: Lab, tmp_path: Path, h6: HostSshd
) -> None:
    """cf's key is already in h6's authorized_keys and is the only key we have."""
    client = lab_client(lab, tmp_path, [SIX], client_key=False)
    assert client.cf("ssh", "keygen").returncode == 0
    ours = client.dedicated_pub.read_text().strip()
    h6.set_authorized_keys([*h6.authorized_keys(), ours])
    accepted = len(h6.accepted_keys())

    again = client.cf("ssh", "setup", SIX, "--yes", stdin="")

    assert again.returncode == 0, again
    assert "password" not in again.stderr, again
    assert f"{SIX}: key already installed" in again.stdout, again
    assert h6.authorized_keys().count(ours) == 1
    assert h6.accepted_keys()[accepted:] == [fingerprint(client.dedicated_pub)]


# --- trust: unknown and changed host keys ------------------------------------------------


@pytest.mark.xdist_group("faults")
def test_trust_records_an_unknown_host_key_only_when_told(
    lab: Lab, tmp_path: Path, h6: HostSshd
) -> None:
    hosts = ["h1", "h2", "h3", SIX]
    client = lab_client(lab, tmp_path, hosts, forget=[SIX_ADDRESS])
    known = client.known_hosts.read_bytes()

    unknown, rows = client.status(SIX)
    assert unknown.returncode == 4, unknown
    assert rows[SIX]["error"] == f"host key not recorded: cf ssh trust {SIX}", unknown

    asked = client.cf("ssh", "trust", SIX)  # no TTY, no --yes: nobody to ask

    assert asked.returncode == 1, asked
    assert f"{SIX}: not trusted" in asked.stderr, asked
    assert client.known_hosts.read_bytes() == known
    assert not client.farm_known_hosts.exists()

    trusted = client.cf("ssh", "trust", SIX, "--yes")

    assert trusted.returncode == 0, trusted
    expected = fingerprint(lab.host(SIX).files.host_key.with_suffix(".pub"))
    assert FINGERPRINT.findall(trusted.stdout) == [expected], trusted
    (line,) = farm_lines(client, SIX_ADDRESS)
    assert line.split()[1:3] == pub_key(lab.host(SIX).files.host_key.with_suffix(".pub"))
    assert client.known_hosts.read_bytes() == known

    again = client.cf("ssh", "trust", SIX, "--yes")
    assert again.returncode == 0, again
    assert "already trusted" in again.stdout, again
    assert len(farm_lines(client, SIX_ADDRESS)) == 1

    table = client.cf("ssh", "status")
    assert table.returncode == 0, table
    for host in hosts:
        address = lab.host(host).address
        assert re.search(rf"^\s*{host}\s+root@{address}\s+known\s+ok\s", table.stdout, re.M), table
    done, rows = client.status()
    assert done.returncode == 0, done
    assert {h: (r["host_key"], r["login"]) for h, r in rows.items()} == dict.fromkeys(
        hosts, ("known", "ok")
    )


@pytest.mark.xdist_group("faults")
def test_a_changed_host_key_is_refused_until_replaced(
    lab: Lab, tmp_path: Path, h6: HostSshd, make_farm: FarmFactory
) -> None:
    farm = make_farm([SIX], connect_timeout=TIMEOUT)
    client = Client(client_home(lab, tmp_path / "home"), farm.config_path, lab.env())
    stack = farm.stack("rekeyed", SIX)
    known = client.known_hosts.read_bytes()
    new_pub = h6.new_host_key()

    done, rows = client.status(SIX)
    assert done.returncode == 4, done
    assert (rows[SIX]["host_key"], rows[SIX]["login"]) == ("changed", "not tried"), done
    assert re.search(rf"^\s*{SIX}\s+\S+\s+changed\s", client.cf("ssh", "status").stdout, re.M)

    logins = lab.ssh_logins(SIX)
    refused = client.cf("up", stack)
    assert refused.returncode != 0, refused
    assert "CHANGED" in refused.output, refused
    assert "attack" in refused.output, refused
    assert lab.ssh_logins(SIX) == logins  # never authenticated to the impostor
    assert farm.on_engines() == {}

    kept = client.cf("ssh", "trust", SIX, "--yes")
    assert kept.returncode == 1, kept
    assert "--replace" in kept.stderr, kept
    assert client.known_hosts.read_bytes() == known
    assert not client.farm_known_hosts.exists()

    replaced = client.cf("ssh", "trust", SIX, "--yes", "--replace")
    assert replaced.returncode == 0, replaced
    assert FINGERPRINT.findall(replaced.stdout) == [fingerprint(new_pub)], replaced
    (line,) = farm_lines(client, SIX_ADDRESS)
    assert line.split()[1:3] == pub_key(new_pub)
    user_known = [line.split()[0] for line in client.known_hosts.read_text().splitlines()]
    assert SIX_ADDRESS not in user_known  # the old key is forgotten, the others stay
    assert len(user_known) == len(known.decode().splitlines()) - 1

    started = client.cf("up", stack)
    assert started.returncode == 0, started
    assert farm.on_engines() == {stack: on(SIX)}


# --- status: an unreachable host ---------------------------------------------------------

FAULTS: dict[str, Fault] = {"cut": cut, "stopped_sshd": stopped_sshd}


@pytest.mark.xdist_group("faults")
@pytest.mark.parametrize("fault", FAULTS)
def test_status_marks_an_unreachable_host_within_the_timeout(
    lab: Lab, tmp_path: Path, h6: HostSshd, fault: str
) -> None:
    hosts = ["h1", "h2", "h3", SIX]
    client = lab_client(lab, tmp_path, hosts)

    with FAULTS[fault](lab, SIX):
        done, rows = client.status()

    assert done.returncode == 4, done
    assert done.elapsed < 3 * TIMEOUT, done  # the connect timeout, not a hang
    assert "Traceback" not in done.output, done
    assert {h: (r["host_key"], r["login"]) for h, r in rows.items()} == {
        "h1": ("known", "ok"),
        "h2": ("known", "ok"),
        "h3": ("known", "ok"),
        SIX: ("unreachable", "unreachable"),
    }
    assert rows[SIX]["error"], done


# --- which key logs in ---------------------------------------------------------------------


def test_a_stale_agent_socket_is_skipped(lab: Lab, tmp_path: Path) -> None:
    """SSH_AUTH_SOCK names a socket file nobody listens on (an agent that died)."""
    client = lab_client(lab, tmp_path, ["h1"])
    stale = tmp_path / "agent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(stale))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe, pytest.raises(OSError):
        probe.connect(str(stale))

    done = client.cf("-v", "ps", "-H", "h1", SSH_AUTH_SOCK=str(stale))

    assert done.returncode == 0, done
    assert f"h1: {FILES_LOG}" in done.stderr, done


@dataclass(frozen=True)
class AuthCase:
    client_key: bool  # ~/.ssh/id_ed25519 and IdentityFile in ~/.ssh/config
    agent: bool  # an ssh-agent holding cf's key
    expect_log: str
    expect_cf_key: bool  # sshd accepted cf's key (else the client's own)


AUTH_CASES = {
    "only-cf-key": AuthCase(
        client_key=False, agent=False, expect_log=CF_KEY_LOG, expect_cf_key=True
    ),
    "ssh-config-first": AuthCase(
        client_key=True, agent=False, expect_log=FILES_LOG, expect_cf_key=False
    ),
    "agent-first": AuthCase(client_key=True, agent=True, expect_log=AGENT_LOG, expect_cf_key=True),
}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Start an ssh-agent holding a key on demand; stopped (by its pid) after the test."""
    with contextlib.ExitStack() as started:

        def start(key: Path) -> str:
            return str(started.enter_context(agent_holding(key, tmp_path / "agent.sock")))

        yield start


@pytest.mark.xdist_group("faults")
@pytest.mark.parametrize("case", AUTH_CASES)
def test_auth_order_agent_then_ssh_config_then_cfs_key(
    lab: Lab,
    tmp_path: Path,
    h6: HostSshd,
    agent: Callable[[Path], str],
    case: str,
) -> None:
    """cf's key is authorized on h6 beside the client's own key; -v says which one worked."""
    how = AUTH_CASES[case]
    client = lab_client(lab, tmp_path, [SIX], client_key=how.client_key)
    assert client.cf("ssh", "keygen").returncode == 0
    h6.set_authorized_keys([*h6.authorized_keys(), client.dedicated_pub.read_text().strip()])
    env: dict[str, str] = {}
    if how.agent:
        # IdentitiesOnly would limit the agent to the IdentityFile keys, as in OpenSSH.
        config = client.home / ".ssh" / "config"
        lines = config.read_text().splitlines()
        config.write_text("".join(f"{line}\n" for line in lines if "IdentitiesOnly" not in line))
        env["SSH_AUTH_SOCK"] = agent(client.farm_dir / "id_ed25519")
    accepted = len(h6.accepted_keys())

    done = client.cf("-v", "ssh", "status", SIX, "--json", **env)

    assert done.returncode == 0, done
    assert json.loads(done.stdout)["hosts"][0]["login"] == "ok", done
    expected = (
        client.dedicated_pub if how.expect_cf_key else lab.client_home / ".ssh/id_ed25519.pub"
    )
    assert h6.accepted_keys()[accepted:] == [fingerprint(expected)]
    # -v names the very key sshd accepted (by fingerprint, or cf's key by its path)
    logged = f"{how.expect_log}" if how.expect_log == CF_KEY_LOG else fingerprint(expected)
    (line,) = [x for x in done.stderr.splitlines() if f"{SIX}: logged in with" in x]
    assert how.expect_log in line and logged in line, done
