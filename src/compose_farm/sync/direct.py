"""Copying a data folder straight from one host to another, when they reach each other.

The new host (B) pulls from the old one (A) over SSH with a key made for this one
copy, so the data does not pass through the machine running cf. The key's
private half sits on B during the copy, where root, or a container that mounts
the Docker socket, could read it; so the key is made to be worth one read-only
copy of exactly the files cf chose, and nothing else:

1. cf asks both hosts at once: does A have rsync; does B have rsync, with which
   server command line would B's rsync ask A to send, and which address B
   leaves from towards A.
2. cf makes an ed25519 key pair in memory and, over its own connection to A,
   under A's ``authorized_keys`` lock (``ssh/authkeys.py``), writes a private folder
   ``~/.cache/compose-farm/moves/<marker>/`` with the NUL-separated names to
   send and the program that sends them (``send``), and adds the key's line::

       restrict,from="<B>",expiry-time="<A's clock + 5 min>",
       command="cd && exec sh .cache/compose-farm/moves/<marker>/send"
       ssh-ed25519 AAAA... <marker>

   (one line in the file).

   The program ignores whatever the key holder asks for
   (``SSH_ORIGINAL_COMMAND``) and reads nothing the key holder sends it but
   rsync's own protocol: it claims the names file (a rename, so a second login
   finds nothing to send: the key works once), enters the folder and runs
   ``tar -c`` of those names, or ``rsync --server --sender`` with options cf
   fixed (``-logDtpR`` and the protocol capabilities B's rsync announced, never
   ``--remove-source-files`` or a path of the key holder's).
3. On B, cf runs ``ssh`` with that key, A's host key (the one cf itself
   verified, in a private temporary known_hosts file,
   ``StrictHostKeyChecking=yes``) and ``BatchMode``, piped into ``tar -x``, or
   as rsync's remote shell. The private key reaches B on stdin, lives in a
   mode-700 temporary folder, and is deleted when the copy ends.
4. cf removes the key's line and its folder from A, whatever happened before,
   even when A's answer to step 2 was lost; if that fails, a warning names the
   host and the file, and ``cf check`` lists every move key left behind.

When B cannot reach A (no route, a firewall, another address or port seen from
B, a NAT that hides B's address from A), ssh exits 255 and the caller relays
the copy through cf instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from compose_farm.errors import TransferError
from compose_farm.executor import ExecutorProtocol, Script
from compose_farm.ssh.authkeys import PROLOGUE, REVOKE_PROGRAM, STATE_DIR
from compose_farm.sync.inflight import holding
from compose_farm.sync.remote import TAR_CREATE

UNREACHABLE = 75  # B's ssh could not reach A (or was refused): relay instead
KEY_LIFETIME = 300  # seconds the key may log in after it is added (one login is enough)

# On A: "rsync" when rsync is there.
HAS_RSYNC = "command -v rsync >/dev/null 2>&1 && echo rsync; exit 0"

# On B, $1: A's address. "src ADDRESS": the address B's packets to A leave from;
# "rsync WORDS...": the server command line B's rsync would ask A to run (its
# remote shell is a stand-in that writes its arguments down and fails).
PREPARE_PROGRAM = r"""
src=$(ip -o route get "$1" 2>/dev/null | sed -n 's/.* src \([^ ]*\).*/\1/p')
[ -n "$src" ] && printf 'src %s\n' "$src"
command -v rsync >/dev/null 2>&1 || exit 0
dir=$(mktemp -d) || exit 0
trap 'rm -rf "$dir"' EXIT
printf '#!/bin/sh\nprintf "%%s " "$@" > "${0%%/*}/args"\nexit 1\n' > "$dir/rsh"
chmod 700 "$dir/rsh"
rsync -a --numeric-ids --from0 --files-from=:cf-names -e "$dir/rsh" \
  "cf@probe:/cf-probe/" "$dir/to/" >/dev/null 2>&1 </dev/null
[ -f "$dir/args" ] && printf 'rsync %s\n' "$(cat "$dir/args")"
exit 0
"""

# On A, under the authorized_keys lock. $1: marker, $2: B's address, $3: "TYPE BASE64"
# of the key, $4: the send program; stdin: the NUL-separated names to send.
ALLOW_PROGRAM = (
    PROLOGUE
    + r"""
dir=$state/moves/$1
mkdir -p "$dir" && cat > "$dir/names" && printf '%s' "$4" > "$dir/send" || exit 1
now=$(date -u +%s) || exit 1
until=$(date -u -d "@$((now + KEY_LIFETIME))" +%Y%m%d%H%M%SZ 2>/dev/null) || {
  echo "this host's date cannot compute the key's expiry-time" >&2; exit 1; }
forced="cd && exec sh STATE_DIR/moves/$1/send"
add "restrict,from=\"$2\",expiry-time=\"$until\",command=\"$forced\" $3 $1" && echo allowed
""".replace("KEY_LIFETIME", str(KEY_LIFETIME)).replace("STATE_DIR", STATE_DIR)
)

# On B. stdin: the private key. $1: A's known_hosts line, $2: port, $3: user@address,
# $4: the folder here, $5: "live" when A's files may change as they are read (tar's 1
# or 2, rsync's 24 for a vanished file, are then no failure), $6: "rsync" or "tar".
PULL_PROGRAM = r"""
umask 077
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
cat > "$dir/key" && printf '%s\n' "$1" > "$dir/known" || exit 1
cat > "$dir/ssh" <<'EOF'
#!/bin/sh
d=${0%/*}
ssh -T -i "$d/key" -o IdentitiesOnly=yes -o IdentityAgent=none \
  -o "UserKnownHostsFile=$d/known" -o GlobalKnownHostsFile=/dev/null \
  -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 \
  -p "$CF_MOVE_PORT" "$@"
status=$?
echo "$status" > "$d/status"
exit "$status"
EOF
chmod 700 "$dir/ssh"
export CF_MOVE_PORT="$2"
mkdir -p "$4" && cd "$4" || exit 1
if [ "$6" = rsync ]; then
  rsync -a --numeric-ids --from0 --files-from=:cf-names -e "$dir/ssh" "$3:$4/" "$4/" </dev/null
  status=$?
  [ "$(cat "$dir/status" 2>/dev/null)" = 255 ] && exit 75
  case $status in
    0) exit 0 ;;
    24) [ "$5" = live ] && exit 0 ;;
  esac
  exit "$status"
fi
"$dir/ssh" "$3" send </dev/null | tar -x -p --numeric-owner --same-owner -f -
status=$?
sent=$(cat "$dir/status" 2>/dev/null)
[ "$sent" = 255 ] && exit 75
[ "$status" = 0 ] || exit "$status"
case $sent in
  0) exit 0 ;;
  1|2) [ "$5" = live ] && exit 0 ;;
esac
echo "the sender on the old host exited $sent" >&2
exit "$sent"
"""

# What B's rsync must ask A for: only these options, in this order, or cf uses tar.
# Before "e." the letters are options (links as links, owners, groups, devices,
# times, permissions, relative names); after it, protocol capabilities.
RSYNC_FLAGS = re.compile(r"-[logDtpR]+e\.[A-Za-z]+")
RSYNC_SHAPE = ("rsync", "--server", "--sender", None, "--numeric-ids", "--files-from")
RSYNC_TAIL = ("--from0", ".", "/cf-probe/")


class Unreachable(Exception):
    """The new host could not reach the old one: relay the copy instead."""


@dataclass(frozen=True)
class Route:
    """How B reaches A: A as cf saw it, B as A will see it, and the tool to copy with."""

    user: str
    address: str
    port: int
    known: str  # A's known_hosts line, keyed by the address B dials
    source: str  # B's address, for ``from=``
    rsync_flags: str | None  # None: tar

    @property
    def tool(self) -> str:
        """``rsync`` or ``tar``."""
        return "tar" if self.rsync_flags is None else "rsync"


@dataclass(frozen=True)
class Grant:
    """A move key in A's ``authorized_keys``: its marker and its private half."""

    marker: str
    private: str
    public: str


def rsync_flags(words: list[str]) -> str | None:
    """The option word of the server command line B's rsync asked for, when that
    line has exactly the expected shape (else ``None``: copy with tar)."""
    if len(words) != len(RSYNC_SHAPE) + 1 + len(RSYNC_TAIL):
        return None
    head, cf_names, tail = words[: len(RSYNC_SHAPE)], words[len(RSYNC_SHAPE)], words[-3:]
    if any(want is not None and got != want for got, want in zip(head, RSYNC_SHAPE, strict=True)):
        return None
    if cf_names != "cf-names" or tuple(tail) != RSYNC_TAIL:
        return None
    return head[3] if RSYNC_FLAGS.fullmatch(head[3]) else None


def parse_prepare(output: str) -> tuple[str | None, list[str] | None]:
    """B's source address and its rsync's server words, from ``PREPARE_PROGRAM``."""
    source: str | None = None
    words: list[str] | None = None
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word == "src":
            try:
                source = str(ipaddress.ip_address(rest.strip()))
            except ValueError:
                source = None
        elif word == "rsync":
            said = rest.split()  # the remote shell's words: [-l USER] HOST rsync ...
            words = said[said.index("rsync") :] if "rsync" in said else []
    return source, words


def _ip(text: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        return None


def send_program(marker: str, folder: PurePosixPath, flags: str | None) -> str:
    """The forced command's program on A: claim the names once, send them, read-only."""
    names = shlex.quote(f"{folder}/")
    if flags is None:
        sender = f'exec {TAR_CREATE} "$dir/sent"'
    else:
        sender = (
            f"exec rsync --server --sender {flags} --numeric-ids "
            f'--files-from "$dir/sent" --from0 . {names}'
        )
    return (
        f"# data-move key {marker}: sends the files cf listed in {folder}, once\n"
        f'dir="$HOME/{STATE_DIR}/moves/{marker}"\n'
        'mv -- "$dir/names" "$dir/sent" 2>/dev/null || {\n'
        '  echo "this move key was used already" >&2; exit 1; }\n'
        f"cd {shlex.quote(str(folder))} || exit 1\n"
        f"{sender}\n"
    )


async def route(executor: ExecutorProtocol, source_host: str, destination_host: str) -> Route:
    """How ``destination_host`` (B) can pull from ``source_host`` (A); ``Unreachable``
    when that cannot be arranged."""
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
    on_a, on_b = await asyncio.gather(
        executor.run(source_host, Script(HAS_RSYNC), capture=True),
        executor.run(destination_host, Script(PREPARE_PROGRAM, (address,)), capture=True),
    )
    if not on_b.ok:
        raise Unreachable(on_b.error or on_b.stderr.strip())
    source, words = parse_prepare(on_b.stdout)
    if source is None:  # no `ip` on B: the address cf reaches B at is the best guess
        destination = await executor.ssh_connection(destination_host)
        source = _ip((destination.get_extra_info("peername") or ("",))[0])
    if source is None:
        raise Unreachable(f"cannot tell which address {destination_host} reaches it from")
    flags = rsync_flags(words) if words and on_a.ok and on_a.stdout.strip() == "rsync" else None
    return Route(str(user), address, port, known, source, flags)


def new_grant() -> Grant:
    """A fresh ed25519 key pair, named by a random marker."""
    from compose_farm.ssh.lib import asyncssh

    marker = f"cf-move-{secrets.token_hex(8)}"
    key = asyncssh.generate_private_key("ssh-ed25519", comment=marker)
    public = " ".join(key.export_public_key().decode().split()[:2])
    return Grant(marker, key.export_private_key().decode(), public)


class NotAllowed(Unreachable):
    """A refused to take the key; ``maybe_added``: its answer was lost on the way."""

    def __init__(self, why: str, *, maybe_added: bool) -> None:
        super().__init__(why)
        self.maybe_added = maybe_added


async def allow(
    executor: ExecutorProtocol,
    source_host: str,
    grant: Grant,
    how: Route,
    folder: PurePosixPath,
    names: bytes,
) -> None:
    """Put ``grant``'s key on ``source_host``, good for sending ``names`` of ``folder``
    once; ``NotAllowed`` when that failed. The caller must ``revoke`` it in any case."""
    program = send_program(grant.marker, folder, how.rsync_flags)
    done = await executor.run(
        source_host,
        Script(ALLOW_PROGRAM, (grant.marker, how.source, grant.public, program)),
        capture=True,
        stdin=names.decode("utf-8", "surrogateescape"),
    )
    if done.ok and done.stdout.strip() == "allowed":
        return
    # The program prints "allowed" right after the line is in place: when it ran to
    # its end without saying so, the line is not there.
    why = done.error or done.stderr.strip() or f"exit status {done.exit_status}"
    raise NotAllowed(why, maybe_added=done.error is not None)


async def revoke(executor: ExecutorProtocol, source_host: str, marker: str) -> str | None:
    """Remove the move key ``marker`` and its folder from ``source_host``: ``None``, or
    why that failed."""
    done = await executor.run(source_host, Script(REVOKE_PROGRAM, (marker,)), capture=True)
    if done.ok:
        return None
    return done.error or done.stderr.strip() or f"exit status {done.exit_status}"


async def pull(
    executor: ExecutorProtocol,
    source_host: str,
    destination_host: str,
    folder: PurePosixPath,
    names: bytes,
    *,
    live: bool = False,
    warn: Callable[[str], None] = lambda _text: None,
) -> str:
    """Copy ``names`` (NUL-separated members) of ``folder`` from ``source_host`` to
    ``destination_host`` directly; with what ("rsync" or "tar"). Raises ``Unreachable``
    when the hosts do not reach each other, ``TransferError`` when the copy fails.
    ``warn`` hears of a key that could not be removed again."""
    how = await route(executor, source_host, destination_host)
    grant = new_grant()
    maybe_added = True
    with holding(grant.marker):  # `cf check` tells this key from one left behind
        try:
            try:
                await allow(executor, source_host, grant, how, folder, names)
            except NotAllowed as exc:
                maybe_added = exc.maybe_added
                raise
            target = f"{how.user}@{how.address}"
            mode = "live" if live else "still"
            args = (how.known, str(how.port), target, str(folder), mode, how.tool)
            script = Script(PULL_PROGRAM, args)
            done = await executor.run(destination_host, script, capture=True, stdin=grant.private)
        finally:
            # Always, even when A's answer to allow was lost: the key may be there.
            why = await asyncio.shield(revoke(executor, source_host, grant.marker))
            if why is not None and maybe_added:
                warn(
                    f"WARNING: could not remove data-move key {grant.marker} from "
                    f"{source_host}:~/.ssh/authorized_keys ({why}); it stops working at its "
                    f"expiry-time; remove it now with `cf ssh revoke {source_host}`"
                )
    if done.error is not None:
        raise TransferError(done.error, unreachable=done.unreachable)
    if done.exit_status == UNREACHABLE:
        raise Unreachable(done.stderr.strip())
    if done.exit_status != 0:
        detail = done.stderr.strip().splitlines()
        why = detail[-1] if detail else f"exit status {done.exit_status}"
        raise TransferError(f"copy of {folder} from {source_host} to {destination_host}: {why}")
    return how.tool
