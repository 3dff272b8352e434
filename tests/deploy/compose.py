"""docker-compose.yml as Compose reads it: YAML with merge keys, ``${VAR:-default}``,
``${VAR:?message}`` and ``$$`` interpolation, and variables declared without a value passed
through from the environment only when set."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.deploy.lock import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>\w+)")


def load() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def interpolate(value: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        if op in {":-", "-"}:
            unset = current is None or (op == ":-" and current == "")
            return arg if unset else str(current)
        if op in {":?", "?"}:
            if current is None or (op == ":?" and current == ""):
                raise ValueError(f"${{{name}}}: {arg}")
            return current
        return current or ""

    return _VARIABLE.sub(substitute, value)


def environment(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    """The container's environment for ``service`` with ``env`` as the .env file/shell."""
    declared = service.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) if "=" in item else (item, None) for item in declared)
    resolved: dict[str, str] = {}
    for name, value in declared.items():
        if value is None:
            if name in env:
                resolved[name] = env[name]
        else:
            resolved[name] = interpolate(str(value), env)
    return resolved


def command(service: dict[str, Any]) -> list[str]:
    raw = service.get("command") or []
    return raw.split() if isinstance(raw, str) else [str(word) for word in raw]
