"""The native `ssh -t` command line raw mode builds."""

from __future__ import annotations

from pathlib import Path

from compose_farm.config import HostConfig
from compose_farm.ssh.identity import SshIdentity
from compose_farm.ssh.raw import MAX_CONTROL_DIR, control_folder, ssh_argv


def test_argv_keeps_host_key_checks_and_quotes_the_command(tmp_path: Path) -> None:
    identity = SshIdentity(tmp_path)
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text("")
    argv = ssh_argv(HostConfig(address="10.0.0.5", user="admin", port=2222), identity, "echo 'a b'")
    assert argv[:1] == ["ssh"] and argv[-3:] == ["--", "10.0.0.5", "echo 'a b'"]
    assert "StrictHostKeyChecking=yes" in argv and "-t" in argv
    assert argv[argv.index("-l") + 1] == "admin" and argv[argv.index("-p") + 1] == "2222"
    assert f'UserKnownHostsFile="{tmp_path}/.ssh/known_hosts"' in argv


def test_control_sockets_move_out_of_a_deep_home(tmp_path: Path) -> None:
    shallow = SshIdentity(Path("/home/me"))
    assert control_folder(shallow) == Path("/home/me/.ssh/compose-farm/cm")
    deep = SshIdentity(tmp_path / ("x" * MAX_CONTROL_DIR))
    folder = control_folder(deep)
    assert len(str(folder)) + 41 < 108 and not str(folder).startswith(str(tmp_path))
