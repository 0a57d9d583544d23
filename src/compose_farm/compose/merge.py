"""Compose's override merge: later files (or documents, or an ``extends`` child) win.

Mappings merge key by key and scalars are replaced. Where a key holds a list,
Compose merges by meaning, checked against ``docker compose config``:

* ``labels``, ``environment`` and the other ``KEY=VALUE`` lists merge by key
  (a list and a mapping mix);
* ``volumes`` and ``devices`` merge by their container path;
* ``networks`` and ``depends_on`` merge by name;
* ``command``, ``entrypoint`` and the like are replaced whole;
* any other list is appended to, without repeating an item.

``!reset`` removes what the earlier file set and ``!override`` replaces it
without merging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compose_farm.compose.mounts import device_target, volume_target
from compose_farm.compose.yamltree import Map, Override, Reset, Seq

_KEYED_LISTS = frozenset({"labels", "environment", "annotations", "sysctls", "extra_hosts"})
_REPLACED = frozenset({"command", "entrypoint", "test", "shell"})
_NAMED = frozenset({"networks", "depends_on"})


def merge_files(files: list[Map]) -> Map:
    """Top-level compose mappings merged in order; ``!reset``/``!override`` resolved."""
    out = files[0]
    for later in files[1:]:
        out = merge(out, later, ())
    result = strip(out)
    assert isinstance(result, Map)
    return result


def merge_service(base: Map, child: Map) -> Map:
    """A service ``child`` that extends ``base``."""
    merged = merge(base, child, ("services",))
    assert isinstance(merged, Map)
    return merged


def merge(base: Any, over: Any, loc: tuple[str, ...]) -> Any:
    """``over`` merged onto ``base`` at ``loc`` (``*`` stands for a service name)."""
    if isinstance(over, Reset):
        return over
    if isinstance(over, Override):
        return over.value
    if isinstance(base, Reset) or base is None:
        return over
    if over is None:  # an empty value sets nothing: the earlier one stays
        return base
    if isinstance(base, Override):
        base = base.value
    key = loc[-1] if loc else ""
    service_key = key if len(loc) == 3 and loc[0] == "services" else None
    build_args = len(loc) == 4 and loc[0] == "services" and loc[2:] == ("build", "args")
    both_keyed = isinstance(base, Seq | Map) and isinstance(over, Seq | Map)
    if (service_key in _KEYED_LISTS or build_args) and both_keyed:
        return _merge_maps(as_map(base), as_map(over), loc)
    if service_key in ("volumes", "devices") and isinstance(base, Seq) and isinstance(over, Seq):
        return _merge_by(base, over, volume_target if key == "volumes" else device_target)
    if service_key in _NAMED and isinstance(base, Seq | Map) and isinstance(over, Seq | Map):
        if isinstance(base, Seq) and isinstance(over, Seq):
            return _union(base, over)
        return _merge_maps(as_map(base), as_map(over), loc)
    if isinstance(base, Map) and isinstance(over, Map):
        return _merge_maps(base, over, loc)
    if isinstance(base, Seq) and isinstance(over, Seq) and key not in _REPLACED:
        return _union(base, over)
    return over


def _merge_maps(base: Map, over: Map, loc: tuple[str, ...]) -> Map:
    out = Map(base.origin)
    for key, value in base.items():
        out.put(key, value, base.where(key))
    for key, value in over.items():
        if key in out:
            out.put(key, merge(out[key], value, (*loc, key)), over.where(key))
        else:
            out.put(key, value, over.where(key))
    return out


def _union(base: Seq, over: Seq) -> Seq:
    out = Seq(base.origin)
    for seq in (base, over):
        for index, item in enumerate(seq):
            if item not in out:
                out.add(item, seq.where(index))
    return out


def _merge_by(base: Seq, over: Seq, key: Callable[[Any], Any]) -> Seq:
    out = Seq(base.origin)
    positions: dict[Any, int] = {}
    for seq in (base, over):
        for index, item in enumerate(seq):
            target = key(item)
            if target is not None and target in positions:
                out[positions[target]] = item
                out.origins[positions[target]] = seq.where(index)
                continue
            if target is not None:
                positions[target] = len(out)
            out.add(item, seq.where(index))
    return out


def as_map(value: Map | Seq) -> Map:
    """A ``KEY=VALUE`` list (or a list of names) as a mapping (``KEY`` alone maps to ``None``)."""
    if isinstance(value, Map):
        return value
    out = Map(value.origin)
    for index, item in enumerate(value):
        text = item if isinstance(item, str) else str(item)
        name, sep, rest = text.partition("=")
        out.put(name, rest if sep else None, value.where(index))
    return out


def strip(value: Any) -> Any:
    """The tree without ``Reset`` (dropped) and ``Override`` (unwrapped) markers."""
    if isinstance(value, Override):
        return strip(value.value)
    if isinstance(value, Map):
        out = Map(value.origin)
        for key, item in value.items():
            if not isinstance(item, Reset):
                out.put(key, strip(item), value.where(key))
        return out
    if isinstance(value, Seq):
        seq = Seq(value.origin)
        for index, item in enumerate(value):
            if not isinstance(item, Reset):
                seq.add(strip(item), value.where(index))
        return seq
    return value
