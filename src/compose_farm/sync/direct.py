"""Copying a data folder straight from one host to another, when they reach each other.

The new host (B) pulls from the old one (A) over SSH with a key made for this one
copy, so the data does not pass through the machine running cf:

1. cf makes an ed25519 key pair in memory.
2. On A, over cf's connection, it adds the public key to the login user's
   ``authorized_keys`` with ``restrict`` and a forced command: ``tar -c`` of this
   one folder, reading the names to send on stdin. The key can do nothing else.
3. On B it runs ``ssh`` with that key, A's host key (the one cf itself verified,
   written to a private temporary known_hosts file, ``StrictHostKeyChecking=yes``)
   and ``BatchMode``, piped into ``tar -x``. The private key reaches B on stdin,
   lives in a mode-700 temporary folder, and is deleted when the copy ends.

When both hosts have rsync (and the folder's path is plain), B runs ``rsync`` over
that same ssh instead of tar, so a big file that changed a little moves as its
changed blocks. The forced command on A then admits only ``rsync --server
--sender ... . FOLDER/`` for this folder, made of plain characters, run without
a shell.
4. cf removes the key from A's ``authorized_keys``, whatever happened.

When B cannot reach A (no route, a firewall, another port seen from B), ssh exits
255 and the caller relays the copy through cf instead.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
from pathlib import PurePosixPath

from compose_farm.errors import TransferError
from compose_farm.executor import Executor, Script
from compose_farm.sync.remote import TAR_SEND

UNREACHABLE = 75  # B's ssh could not reach A (or was refused): relay instead

ALLOW_PROGRAM = r"""
umask 077
mkdir -p "$HOME/.ssh" && printf '%s\n' "$1" >> "$HOME/.ssh/authorized_keys"
"""
HAS_RSYNC = "command -v rsync >/dev/null 2>&1 && echo rsync; exit 0"

# $1: the marker that names the key; the file keeps its inode, owner and mode.
REVOKE_PROGRAM = r"""
keys=$HOME/.ssh/authorized_keys
[ -f "$keys" ] || exit 0
grep -v -F -e "$1" "$keys" > "$keys.cf-tmp"
cat "$keys.cf-tmp" > "$keys" && rm -f "$keys.cf-tmp"
"""

# stdin: the private key (up to its END line), then the NUL-separated names to send.
# $1: A's known_hosts line, $2: port, $3: user@address, $4: the folder here, $5:
# "live" when A's files may change as they are read (tar's 1 or 2, rsync's 24 for a
# vanished file, are then no failure), $6: "rsync" or "tar".
PULL_PROGRAM = r"""
umask 077
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
while IFS= read -r line; do
  printf '%s\n' "$line"
  case $line in *"END OPENSSH PRIVATE KEY"*) break ;; esac
done > "$dir/key"
printf '%s\n' "$1" > "$dir/known"
mkdir -p "$4" && cd "$4" || exit 1
ssh="ssh -T -i $dir/key -o IdentitiesOnly=yes -o IdentityAgent=none"
ssh="$ssh -o UserKnownHostsFile=$dir/known -o GlobalKnownHostsFile=/dev/null"
ssh="$ssh -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -p $2"
if [ "$6" = rsync ]; then
  # rsync may report a refused connection as a protocol error (12): ask ssh first
  # (the forced command turns the probe away, with a status that is not ssh's 255).
  $ssh "$3" probe </dev/null >/dev/null 2>&1
  [ $? = 255 ] && exit 75
  rsync -a --numeric-ids --from0 --files-from=- -e "$ssh" "$3:$4/" "$4/"
  status=$?
  case $status in
    0) exit 0 ;;
    24) [ "$5" = live ] && exit 0 ;;
  esac
  exit "$status"
fi
{ $ssh "$3"; echo $? > "$dir/ssh"; } | tar -x -p --numeric-owner --same-owner -f -
status=$?
sent=$(cat "$dir/ssh")
[ "$sent" = 255 ] && exit 75
[ "$status" = 0 ] || exit "$status"
case $sent in
  0) exit 0 ;;
  1|2) [ "$5" = live ] && exit 0 ;;
esac
echo "tar on the old host exited $sent" >&2
exit "$sent"
"""


class Unreachable(Exception):
    """The new host could not reach the old one: relay the copy instead."""


# The forced command of the rsync mode: only the rsync server sending this folder,
# only plain characters, split into words without a shell's help (``set -f``).
RSYNC_GATE = (
    "set -f; c=$SSH_ORIGINAL_COMMAND; "
    "case $c in *[!A-Za-z0-9._/=,:+' '-]*) exit 1 ;; esac; "
    'case $c in "rsync --server --sender "*" . FOLDER/") exec $c ;; esac; exit 1'
)
PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/+,=-]*")


def _forced_line(public_key: str, folder: PurePosixPath, mode: str) -> str:
    """The ``authorized_keys`` line: this key may only send files of ``folder``."""
    if mode == "rsync":
        command = RSYNC_GATE.replace("FOLDER", str(folder))
    else:
        command = f"cd {shlex.quote(str(folder))} && exec {TAR_SEND}"
    escaped = command.replace("\\", "\\\\").replace('"', '\\"')
    return f'restrict,command="{escaped}" {public_key}'


async def pull(
    executor: Executor,
    source_host: str,
    destination_host: str,
    folder: PurePosixPath,
    names: bytes,
    *,
    live: bool = False,
) -> str:
    """Copy ``names`` (NUL-separated members) of ``folder`` from ``source_host`` to
    ``destination_host`` directly; with what ("rsync" or "tar"). Raises ``Unreachable``
    when the hosts do not reach each other, ``TransferError`` when the copy fails."""
    from compose_farm.sshlib import asyncssh

    if executor.is_local(source_host) or executor.is_local(destination_host):
        raise Unreachable("a local host")
    conn = await executor.ssh_connection(source_host)
    host_key = conn.get_server_host_key()
    peer = conn.get_extra_info("peername")
    user = conn.get_extra_info("username")
    if host_key is None or not peer or not user:
        raise Unreachable("no host key, address or user to give the new host")
    # The address and port cf reached A at (an ssh_config alias means nothing on B).
    address, port = str(peer[0]), int(peer[1])
    known_name = address if port == 22 else f"[{address}]:{port}"
    known = f"{known_name} {host_key.export_public_key().decode().strip()}"

    marker = f"cf-move-{secrets.token_hex(8)}"
    key = asyncssh.generate_private_key("ssh-ed25519", comment=marker)
    public = key.export_public_key().decode().strip()
    private = key.export_private_key().decode()
    mode = "tar"
    if PLAIN_PATH.fullmatch(str(folder)):
        found = await asyncio.gather(
            *(
                executor.run(h, Script(HAS_RSYNC), capture=True)
                for h in (source_host, destination_host)
            )
        )
        if all(r.ok and r.stdout.strip() == "rsync" for r in found):
            mode = "rsync"
    allowed = await executor.run(
        source_host, Script(ALLOW_PROGRAM, (_forced_line(public, folder, mode),)), capture=True
    )
    if not allowed.ok:
        raise Unreachable(allowed.error or allowed.stderr.strip())
    try:
        stdin = private + names.decode("utf-8", "surrogateescape")
        how = "live" if live else "still"
        target = f"{user}@{address}"
        script = Script(PULL_PROGRAM, (known, str(port), target, str(folder), how, mode))
        done = await executor.run(destination_host, script, capture=True, stdin=stdin)
    finally:
        await executor.run(source_host, Script(REVOKE_PROGRAM, (marker,)), capture=True)
    if done.error is not None:
        raise TransferError(done.error, unreachable=done.unreachable)
    if done.exit_status == UNREACHABLE:
        raise Unreachable(done.stderr.strip())
    if done.exit_status != 0:
        detail = done.stderr.strip().splitlines()
        why = detail[-1] if detail else f"exit status {done.exit_status}"
        raise TransferError(f"copy of {folder} from {source_host} to {destination_host}: {why}")
    return mode
