"""``CERTKEEPER_<NAME>_FILE``: a secret setting read from a file (a mounted Kubernetes or
Docker secret) instead of the environment.

Every setting typed ``SecretStr``, plus the connection URLs (they carry passwords), has the
variant. The file's content is the value, without its trailing newline. Setting both the
variable and its ``_FILE`` is refused, as is a file that cannot be read: either stops the
process at start with one line naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from shared.errors import ConfigError

PREFIX: Final = "CERTKEEPER_"
# Settings that are not SecretStr but hold credentials all the same.
URLS_WITH_PASSWORDS: Final = frozenset({"database_url", "redis_url"})
MAX_SECRET_FILE_BYTES: Final = 64 * 1024


def has_file_variant(name: str, field: FieldInfo) -> bool:
    annotation = field.annotation
    holds_secret = annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())
    return holds_secret or name in URLS_WITH_PASSWORDS


def file_variant_names(settings_class: type[BaseSettings]) -> list[str]:
    """The ``CERTKEEPER_*_FILE`` variables a process reads (for docs and checks)."""
    return sorted(
        f"{PREFIX}{name.upper()}_FILE"
        for name, field in settings_class.model_fields.items()
        if has_file_variant(name, field)
    )


def read_secret_file(variable: str, path: str) -> str:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_SECRET_FILE_BYTES:
            raise ConfigError(f"{variable}: {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {type(exc).__name__}") from None
    return text.rstrip("\r\n")


class SecretFileSource(PydanticBaseSettingsSource):
    """Values of ``CERTKEEPER_<NAME>_FILE`` for the settings that hold secrets."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{PREFIX}{field_name.upper()}"
        path = os.environ.get(f"{variable}_FILE")
        if path is None or not has_file_variant(field_name, field):
            return None, field_name, False
        if os.environ.get(variable):
            raise ConfigError(f"set {variable} or {variable}_FILE, not both")
        return read_secret_file(f"{variable}_FILE", path), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _complex = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values
