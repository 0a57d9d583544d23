"""Compose files: discovery, ``.env`` parsing, interpolation and the model.

Everything is pure except ``load_compose``, ``build_project`` (for the files an
``include`` or ``extends`` names), ``read_dotenv`` and the discovery functions,
which read files.
"""

from __future__ import annotations

from compose_farm.compose.discovery import (
    COMPOSE_FILE_NAMES,
    compose_file_in,
    find_compose_file,
    list_stack_dirs,
)
from compose_farm.compose.document import ComposeDocument, parse_document
from compose_farm.compose.dotenv import DotEnv, parse_dotenv, read_dotenv
from compose_farm.compose.extract import normalize_project_name
from compose_farm.compose.interpolate import Substitution, TemplateError, substitute
from compose_farm.compose.load import build_project, load_compose
from compose_farm.compose.masking import mask
from compose_farm.compose.model import ComposeProject, ServiceInfo
from compose_farm.compose.mounts import Mount, resolve_host_path
from compose_farm.compose.ports import PortError, PublishedPort, parse_port

__all__ = [
    "COMPOSE_FILE_NAMES",
    "ComposeDocument",
    "ComposeProject",
    "DotEnv",
    "Mount",
    "PortError",
    "PublishedPort",
    "ServiceInfo",
    "Substitution",
    "TemplateError",
    "build_project",
    "compose_file_in",
    "find_compose_file",
    "list_stack_dirs",
    "load_compose",
    "mask",
    "normalize_project_name",
    "parse_document",
    "parse_dotenv",
    "parse_port",
    "read_dotenv",
    "resolve_host_path",
    "substitute",
]
