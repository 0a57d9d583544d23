"""Changes to one lab host's sshd for the ``cf ssh`` tests, every one undone on exit.

Nothing on disk is edited. Each change is a private file bind-mounted over the
original inside the host's own mount namespace (which is private: nothing
propagates to the machine): a copy of ``/etc/shadow`` with a known root
password, a copy of the lab's sshd config that allows password logins, a new
host key, and a scratch copy of root's ``authorized_keys`` for cf to append to.
``/etc`` is shared with the real machine, so its shadow file and ``/etc/ssh``
are never written. Undoing is: stop sshd, unmount, start sshd; then the
block checks that those files are unchanged and the lab's own ssh login works.

Tests that use a host this way hold ``hosts_lock`` (the ``faults`` group, shared
with the other tests that break h4..h6), and the block starts by undoing
whatever a killed earlier run may have left mounted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.lab import Lab, LabError, LabHost
from tests.lab.proc import run
from tests.support.faults import hosts_lock

SHADOW = "/etc/shadow"
AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"

# Appended to the lab's config; sshd takes the first value of a keyword, so the
# originals' "no" lines are dropped first.
PASSWORD_SETTINGS = {
    "PasswordAuthentication": "yes",
    "KbdInteractiveAuthentication": "no",
    "PermitRootLogin": "yes",
    "UsePAM": "no",  # sshd then checks /etc/shadow itself
}


def sha256(path: Path | str) -> str:
    """The file's digest, to show it was not touched."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def password_hash(password: str) -> str:
    """A SHA-512 crypt hash for /etc/shadow (``openssl passwd -6``)."""
    done = run(["openssl", "passwd", "-6", "-salt", "cftestsalt", "-stdin"], input=password + "\n")
    return done.stdout.strip()


@dataclass
class HostSshd:
    """One lab host's sshd while a test changes it; build it with ``changed_sshd``."""

    lab: Lab
    host: LabHost

    @property
    def scratch(self) -> Path:
        """A fixed folder beside the host's files: the private copies live here."""
        return self.host.dir / "cf-ssh-test"

    def targets(self) -> tuple[str, ...]:
        """Every path this module may mount over inside the host."""
        files = self.host.files
        return (SHADOW, AUTHORIZED_KEYS, str(files.sshd_config), str(files.host_key))

    # --- reading the host -------------------------------------------------------

    def read(self, path: str) -> str:
        """A file as processes inside the host see it."""
        return self.lab.host_exec(self.host, ["cat", path]).stdout

    def authorized_keys(self) -> list[str]:
        """Root's authorized_keys lines inside the host."""
        return [line for line in self.read(AUTHORIZED_KEYS).splitlines() if line.strip()]

    def mounted(self) -> list[str]:
        """Which of ``targets()`` are mount points inside the host (repeats: stacked)."""
        mountinfo = self.read("/proc/self/mountinfo")
        points = [line.split()[4] for line in mountinfo.splitlines() if line.strip()]
        return [p for p in points if p in self.targets()]

    def accepted_keys(self) -> list[str]:
        """Fingerprints of the keys sshd accepted so far, from its log."""
        text = self.host.ssh_log.read_text(errors="replace")
        return [
            line.rsplit(" ", 1)[-1]
            for line in text.splitlines()
            if "Accepted publickey" in line and "SHA256:" in line
        ]

    def password_logins(self) -> int:
        text = self.host.ssh_log.read_text(errors="replace")
        return text.count("Accepted password")

    def password_tries(self) -> int:
        """Passwords sshd was given, accepted or not."""
        text = self.host.ssh_log.read_text(errors="replace")
        return text.count("Accepted password") + text.count("Failed password")

    # --- changing it ---------------------------------------------------------------

    def _bind(self, target: str, content: bytes, mode: int) -> Path:
        self.scratch.mkdir(mode=0o700, exist_ok=True)
        copy = self.scratch / target.strip("/").replace("/", "_")
        copy.write_bytes(content)
        copy.chmod(mode)
        self.lab.host_exec(self.host, ["mount", "--bind", str(copy), target])
        return copy

    def _restart(self) -> None:
        self.lab.stop_sshd(self.host)
        self.lab.start_sshd(self.host)

    def private_authorized_keys(self) -> None:
        """Root's authorized_keys becomes a scratch copy (same lines) that cf may append to."""
        self._bind(AUTHORIZED_KEYS, self.read(AUTHORIZED_KEYS).encode(), 0o600)

    def set_authorized_keys(self, lines: list[str]) -> None:
        """Replace the scratch copy's lines (after ``private_authorized_keys``)."""
        copy = self.scratch / AUTHORIZED_KEYS.strip("/").replace("/", "_")
        copy.write_text("".join(line + "\n" for line in lines))

    def allow_password(self, password: str) -> None:
        """Root may log in with ``password``: a private shadow and sshd config, sshd restarted."""
        shadow = Path(SHADOW).read_text().splitlines()
        crypted = password_hash(password)
        patched = [
            ":".join([f[0], crypted, *f[2:]]) if (f := line.split(":"))[0] == "root" else line
            for line in shadow
        ]
        config = self.host.files.sshd_config.read_text().splitlines()
        kept = [line for line in config if line.split(" ", 1)[0] not in PASSWORD_SETTINGS]
        kept += [f"{key} {value}" for key, value in PASSWORD_SETTINGS.items()]
        self._bind(SHADOW, ("\n".join(patched) + "\n").encode(), 0o640)
        self._bind(str(self.host.files.sshd_config), ("\n".join(kept) + "\n").encode(), 0o644)
        self._restart()

    def new_host_key(self) -> Path:
        """sshd serves a freshly made ed25519 host key (as after a reinstall); its .pub path."""
        self.scratch.mkdir(mode=0o700, exist_ok=True)
        made = self.scratch / "new_host_key"
        made.unlink(missing_ok=True)
        made.with_suffix(".pub").unlink(missing_ok=True)
        comment = f"{self.host.name}-new"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(made)])
        self.lab.host_exec(self.host, ["mount", "--bind", str(made), str(self.host.files.host_key)])
        self._restart()
        return made.with_suffix(".pub")

    # --- putting it back -------------------------------------------------------------

    def undo(self) -> None:
        """Reconnect the cable, unmount every private copy, run sshd from the lab's own files."""
        self.lab.restore(self.host)
        served = {str(self.host.files.sshd_config), str(self.host.files.host_key)}
        if served & set(self.mounted()):
            self.lab.stop_sshd(self.host)  # it read them at start: restart it after
        try:
            for _ in range(10):
                if not (stacked := self.mounted()):
                    break
                for target in stacked:
                    self.lab.host_exec(self.host, ["umount", target], check=False)
            if left := self.mounted():
                raise LabError(f"{self.host.name}: could not unmount {left}")
        finally:
            self.lab.start_sshd(self.host)
        if self.scratch.is_dir():
            for child in self.scratch.iterdir():
                child.unlink()
            self.scratch.rmdir()


@contextmanager
def changed_sshd(lab: Lab, host: str) -> Iterator[HostSshd]:
    """``host``'s sshd for one test to change; exactly as the lab made it afterwards.

    Holds the fault-hosts lock throughout. Root's authorized_keys is a private
    copy for the whole block, so a key cf installs never reaches the lab's file.
    """
    h = lab.host(host)
    on_disk = (
        SHADOW,
        h.files.sshd_config,
        h.files.host_key,
        h.files.home / ".ssh" / "authorized_keys",
    )
    with hosts_lock(lab):
        sshd = HostSshd(lab, h)
        sshd.undo()  # whatever a killed run left behind
        before = {path: sha256(path) for path in on_disk}
        try:
            sshd.private_authorized_keys()
            yield sshd
        finally:
            sshd.undo()
        after = {path: sha256(path) for path in on_disk}
        if after != before:
            changed = [str(p) for p in on_disk if after[p] != before[p]]
            raise LabError(f"{host}: files changed on disk: {changed}")
        if (login := lab.ssh(h, "true")).returncode != 0:  # original host key, client key
            raise LabError(f"{host}: the lab's own ssh login fails after the test: {login.stderr}")
