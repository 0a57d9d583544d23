"""From files to one compose model: ``include``, ``extends`` and relative paths.

Each file is parsed, interpolated and checked against the schema on its own
(``load_file``). Its services' relative paths are made absolute against the
folder they are relative to (the project folder; for an ``extends`` of another
file, that file's folder; for an ``include``, the included project's folder),
so services can then move between files without changing meaning. ``include``
brings in another project's services and resources, interpolated with its own
``.env`` under the including project's variables; ``extends`` merges a base
service under the service that names it, as an override file would.
Remote includes (``oci://``, ``git``) are not fetched: cf says so and skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compose_farm.compose.document import error_at, parse_document
from compose_farm.compose.dotenv import read_dotenv
from compose_farm.compose.merge import merge_files, merge_service, strip
from compose_farm.compose.mounts import clean, split_volume
from compose_farm.compose.schema import validate_file
from compose_farm.compose.yamltree import Map, Seq
from compose_farm.errors import ComposeFileError, Problem

Reader = Callable[[Path], str]
_REMOTE = ("oci://", "git@", "http://", "https://", "git://", "ssh://")
RESOURCES = ("networks", "volumes", "secrets", "configs", "models")


def read_file(path: Path) -> str:
    """A compose file's text; it must be UTF-8, as for Compose."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ComposeFileError(f"{path}: no such compose file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeFileError(f"{path}: cannot read the compose file: {exc}") from None


@dataclass
class Loader:
    """Reads files for one project; ``texts`` stands in for files a caller already has."""

    variables: Mapping[str, str]
    texts: dict[Path, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    read: Reader = read_file

    def load_file(self, path: Path, base: Path) -> Map:
        """``path`` parsed, interpolated, validated, its ``extends`` applied, paths absolute."""
        text = self.texts[path] if path in self.texts else self.read(path)
        doc = parse_document(text, path, self.variables)
        self.warnings += doc.warnings
        data = doc.data
        services = data.get("services")
        if isinstance(services, Map) and all(isinstance(s, Map) for s in services.values()):
            resolved = Map(services.origin)
            for name in services:
                resolved.put(name, self._extended(data, path, name, base, ()), services.where(name))
            data.put("services", resolved, data.where("services"))
        validate_file(strip(data))  # after ``extends``, as Compose does
        return data

    def _extended(
        self, data: Map, path: Path, name: str, base: Path, chain: tuple[str, ...]
    ) -> Map:
        service: Map = data["services"][name]
        here = f"{name}@{path}"
        if here in chain:
            raise error_at(data, ("services", name, "extends"), "extends forms a cycle")
        service = rebase(service, base)
        spec = service.get("extends")
        if spec is None:
            return service
        if isinstance(spec, str):
            parent_name, parent_file = spec, None
        elif isinstance(spec, Map) and isinstance(spec.get("service"), str):
            parent_name, parent_file = spec["service"], spec.get("file")
        else:
            raise error_at(data, ("services", name, "extends"), "needs a 'service' name")
        if parent_file is None:
            parent_data, parent_path, parent_base = data, path, base
        else:
            if not isinstance(parent_file, str):
                raise error_at(data, ("services", name, "extends", "file"), "must be a string")
            parent_path = Path(clean(str(path.parent / parent_file)))
            parent_base = parent_path.parent
            text = self.texts[parent_path] if parent_path in self.texts else self.read(parent_path)
            parent_doc = parse_document(text, parent_path, self.variables)
            self.warnings += parent_doc.warnings
            parent_data = parent_doc.data
            validate_file(strip(parent_data))
        parents = parent_data.get("services") or {}
        if parent_name not in parents:
            raise error_at(
                data,
                ("services", name, "extends"),
                f"cannot extend service {name!r}: "
                f"service {parent_name!r} not found in {parent_path}",
            )
        parent = self._extended(parent_data, parent_path, parent_name, parent_base, (*chain, here))
        child = Map(service.origin)
        for key, value in service.items():
            if key != "extends":
                child.put(key, value, service.where(key))
        return merge_service(parent, child)

    def load_project(self, files: tuple[Path, ...], base: Path) -> Map:
        """Several files of one project merged in order, with their ``include``s."""
        loaded = [self.load_file(path, base) for path in files]
        return self._include(merge_files(loaded), files[0])

    def _include(self, data: Map, path: Path) -> Map:
        entries = data.get("include")
        if not entries:
            return data
        for index, entry in enumerate(entries):
            included = self._one_include(data, entry, ("include", index), path)
            if included is None:
                continue
            for section in ("services", *RESOURCES):
                theirs = included.get(section)
                if not isinstance(theirs, Map):
                    continue
                ours = data.get(section)
                if not isinstance(ours, Map):
                    ours = Map(theirs.origin)
                    data.put(section, ours, theirs.origin)
                for name, value in theirs.items():
                    if name in ours and section == "services":
                        raise error_at(
                            data, (section, name), "conflicts with a service it includes"
                        )
                    if name not in ours:
                        ours.put(name, value, theirs.where(name))
        return data

    def _one_include(
        self, data: Map, entry: Any, loc: tuple[str | int, ...], path: Path
    ) -> Map | None:
        if isinstance(entry, str):
            paths: list[Any] = [entry]
            env_files: list[Any] | None = None
            directory = None
        elif isinstance(entry, Map):
            raw = entry.get("path")
            paths = list(raw) if isinstance(raw, Seq) else [raw]
            env = entry.get("env_file")
            env_files = None if env is None else (list(env) if isinstance(env, Seq) else [env])
            directory = entry.get("project_directory")
        else:
            raise error_at(data, loc, "must be a path or a mapping with 'path'")
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise error_at(data, loc, "needs a 'path'")
        if any(p.startswith(_REMOTE) for p in paths):
            file, line = data.where(loc[0]) if isinstance(loc[0], str) else (path, None)
            why = "a remote include is not fetched by Compose Farm; its services are left out"
            self.warnings.append(str(Problem(why, file, line, "include")))
            return None
        files = tuple(Path(clean(str(path.parent / p))) for p in paths)
        for file in files:
            if not file.is_file() and file not in self.texts:
                raise error_at(data, loc, f"{file}: no such file to include")
        project_dir = Path(clean(str(path.parent / directory))) if directory else files[0].parent
        values: dict[str, str] = {}
        for name in env_files if env_files is not None else [".env"]:
            env_path = Path(clean(str((project_dir if env_files is None else path.parent) / name)))
            values.update(read_dotenv(env_path, {**values, **self.variables}).values)
        sub = Loader({**values, **self.variables}, self.texts, self.warnings, self.read)
        return sub.load_project(files, project_dir)


def rebase(service: Map, base: Path) -> Map:
    """``service`` with its relative bind sources and env files made absolute against ``base``."""
    out = Map(service.origin)
    for key, value in service.items():
        if key == "volumes" and isinstance(value, Seq):
            volumes = Seq(value.origin)
            for index, item in enumerate(value):
                volumes.add(_rebase_volume(item, base), value.where(index))
            value = volumes
        elif key == "env_file":
            value = _rebase_env_file(value, base)
        out.put(key, value, service.where(key))
    return out


def _relative(source: str) -> bool:
    return not source.startswith(("/", "~")) and split_volume(source + ":")[0] == source


def _rebase_volume(item: Any, base: Path) -> Any:
    if isinstance(item, str):
        parts = split_volume(item)
        if len(parts) >= 2 and parts[0].startswith(".") and all(parts):
            return ":".join([clean(f"{base}/{parts[0]}"), *parts[1:]])
        return item
    if isinstance(item, Map) and item.get("type") == "bind":
        source = item.get("source")
        if isinstance(source, str) and _relative(source):
            copy = Map(item.origin)
            for key, value in item.items():
                copy.put(key, value, item.where(key))
            copy["source"] = clean(f"{base}/{source}")
            return copy
    return item


def _rebase_env_file(value: Any, base: Path) -> Any:
    if isinstance(value, str):
        return value if value.startswith("/") else clean(f"{base}/{value}")
    if isinstance(value, Seq):
        out = Seq(value.origin)
        for index, item in enumerate(value):
            out.add(_rebase_env_file(item, base), value.where(index))
        return out
    if isinstance(value, Map) and isinstance(value.get("path"), str):
        copy = Map(value.origin)
        for key, item in value.items():
            copy.put(key, item, value.where(key))
        copy["path"] = _rebase_env_file(value["path"], base)
        return copy
    return value
