"""Editing a host's ``~/.ssh/authorized_keys`` without ever losing a byte of it.

cf adds lines to a file it does not own twice: ``cf ssh setup`` installs cf's
key for good, and a host-to-host data move installs a key for one copy and
removes it again (``sync/direct.py``). Both go through the shell functions
here, so that:

- every edit holds ``flock`` on ``~/.cache/compose-farm/authorized_keys.lock``:
  two moves off one host at once (``cf apply`` runs moves in parallel), or a
  move beside ``cf ssh setup``, never interleave their rewrites;
- a new line is put *before* the owner's first line, always ending with its
  own newline, so it can never be glued onto an owner's last line that lacks
  one, and the owner's bytes stay exactly as they were after it;
- a removal takes out exactly the bytes of cf's line (found by its random
  marker, in cf's own shape) and nothing else; nothing is ever matched by a
  substring of an owner's line;
- the file is rewritten atomically (a unique temporary file beside it, with
  the mode, owner and times of the original, then ``mv``; written in place
  when it is a mount point), through a symlink to its target; a file cf
  itself created (there was none) is removed again
  when cf's last line leaves it empty.

The programs are constants; keys, markers and lines reach them as quoted
positional arguments. They need ``flock`` (util-linux, or busybox's), ``grep``,
``head -c`` and ``tail -c``, as every Linux Docker host has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MOVE_MARKER = re.compile(r"cf-move-[0-9a-f]{16}")
STATE_DIR = ".cache/compose-farm"  # under the login user's home on each host
KEYS_FILE = "~/.ssh/authorized_keys"

# The shared part: lock, resolve the file, and the helpers that rewrite it.
PROLOGUE = r"""
umask 077
keys=$HOME/.ssh/authorized_keys
state=$HOME/.cache/compose-farm
mkdir -p "$state" || exit 1
command -v flock >/dev/null 2>&1 || {
  echo "flock is not installed on this host (util-linux)" >&2; exit 1; }
exec 9>>"$state/authorized_keys.lock" || exit 1
flock -w 60 9 || { echo "timed out waiting for $state/authorized_keys.lock" >&2; exit 1; }
if [ -L "$keys" ]; then keys=$(readlink -f -- "$keys") || exit 1; fi
# begin: $tmp beside $keys, with its mode, owner and times; commit: make it $keys.
begin() {
  tmp=$(mktemp "$keys.cf-XXXXXX") || return 1
  if [ -e "$keys" ]; then cp -p -- "$keys" "$tmp" || { rm -f -- "$tmp"; return 1; }; fi
}
commit() {
  sync -- "$tmp" 2>/dev/null
  mv -f -- "$tmp" "$keys" 2>/dev/null && return 0
  # A file that is a mount point (bind-mounted in place) cannot be renamed over:
  # write it in place, still under the lock.
  cat -- "$tmp" > "$keys" && rm -f -- "$tmp" && return 0
  echo "cannot rewrite $keys; its new content is in $tmp" >&2
  return 1
}
# add LINE: LINE and its newline before the owner's first byte.
add() {
  if [ -e "$keys" ]; then
    begin || return 1
    { printf '%s\n' "$1" && cat -- "$keys"; } > "$tmp" || { rm -f -- "$tmp"; return 1; }
    commit
  else
    mkdir -p "$HOME/.ssh" || return 1
    begin || return 1
    printf '%s\n' "$1" > "$tmp" && commit && : > "$state/authorized_keys.created"
  fi
}
# remove MARKER: every line of cf's move-key shape ending in " MARKER", byte-exactly.
remove() {
  [ -e "$keys" ] || return 0
  while n=$(grep -n -x -e "restrict,from=.* $1" -- "$keys" | head -n 1); [ -n "$n" ]; do
    n=${n%%:*}
    before=$(head -n "$((n - 1))" -- "$keys" | wc -c) || return 1
    size=$(head -n "$n" -- "$keys" | wc -c) || return 1
    begin || return 1
    { head -c "$before" -- "$keys" && tail -c +"$((size + 1))" -- "$keys"; } > "$tmp" ||
      { rm -f -- "$tmp"; return 1; }
    commit || return 1
    echo "removed $1"
  done
  # a file cf made (there was none) goes again when cf's last line leaves
  if [ -f "$state/authorized_keys.created" ]; then
    if [ ! -s "$keys" ]; then rm -f -- "$keys" "$state/authorized_keys.created"
    elif ! grep -q -e ' cf-move-[0-9a-f]*$' -- "$keys"; then
      rm -f -- "$state/authorized_keys.created"
    fi
  fi
  return 0
}
"""

# $1: the whole line to install; $2: its "type base64" (a key already there, with any
# comment or options, counts and is left as it is). Prints "present" or "added".
INSTALL_PROGRAM = (
    PROLOGUE
    + r"""
if [ -e "$keys" ] && awk -v key="$2" '
    { for (i = 1; i < NF; i++) if ($i " " $(i + 1) == key) found = 1 }
    END { exit !found }' "$keys"; then
  echo present
else
  add "$1" && echo added
fi
"""
)

# $1: a move key's marker: its line and its folder of files go.
REVOKE_PROGRAM = (
    PROLOGUE
    + r"""
case ${1#cf-move-} in "$1"|""|*[!0-9a-f]*) echo "not a move key: $1" >&2; exit 2 ;; esac
remove "$1" || exit 1
rm -rf -- "$state/moves/$1"
"""
)

# Read only: every move key line (marker and expiry), and move folders without a line.
LIST_PROGRAM = r"""
keys=$HOME/.ssh/authorized_keys
if [ -f "$keys" ]; then
  grep -x -e 'restrict,from=.* cf-move-[0-9a-f]*' -- "$keys" | while IFS= read -r line; do
    marker=${line##* }
    expiry=$(printf '%s\n' "$line" | sed -n 's/.*expiry-time="\([0-9TZ]*\)".*/\1/p')
    printf 'key %s %s\n' "$marker" "${expiry:--}"
  done
fi
for d in "$HOME/.cache/compose-farm/moves"/cf-move-*; do
  [ -d "$d" ] && printf 'folder %s\n' "${d##*/}"
done
exit 0
"""


@dataclass(frozen=True)
class LeftKey:
    """A move key still in a host's ``authorized_keys`` (or only its folder of files)."""

    host: str
    marker: str
    expiry: str | None  # as written in the line, e.g. 20261201101500Z
    in_file: bool = True

    def describe(self) -> str:
        """One line for ``cf check``."""
        if not self.in_file:
            return f"{self.host}: ~/{STATE_DIR}/moves/{self.marker} left by a data move"
        until = f", expiry-time {self.expiry}" if self.expiry else ""
        return f"{self.host}: {KEYS_FILE} still holds data-move key {self.marker}{until}"


def parse_left(host: str, output: str) -> list[LeftKey]:
    """The move keys ``LIST_PROGRAM`` found on ``host``."""
    keys: dict[str, LeftKey] = {}
    folders: list[str] = []
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word == "key":
            marker, _, expiry = rest.partition(" ")
            if MOVE_MARKER.fullmatch(marker):
                keys[marker] = LeftKey(host, marker, None if expiry in ("", "-") else expiry)
        elif word == "folder" and MOVE_MARKER.fullmatch(rest):
            folders.append(rest)
    found = list(keys.values())
    found += [LeftKey(host, m, None, in_file=False) for m in folders if m not in keys]
    return found
