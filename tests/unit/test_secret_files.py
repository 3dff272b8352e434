"""``CERTKEEPER_<NAME>_FILE`` variants: secrets from mounted files, refused when ambiguous."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings, load_settings
from shared.crypto import new_key_spec
from shared.errors import ConfigError
from shared.secret_files import file_variant_names


def test_the_encryption_keys_come_from_a_file_without_its_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = new_key_spec()
    secret = tmp_path / "keys"
    secret.write_text(spec + "\n")
    monkeypatch.setenv("CERTKEEPER_ENCRYPTION_KEYS_FILE", str(secret))
    settings = load_settings()
    assert settings.encryption_keys is not None
    assert settings.encryption_keys.get_secret_value() == spec


def test_connection_urls_have_file_variants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db").write_text("postgresql://ck:s3cret@db:5432/ck\n")
    (tmp_path / "redis").write_text("redis://:s3cret@redis:6379/0")
    monkeypatch.setenv("CERTKEEPER_DATABASE_URL_FILE", str(tmp_path / "db"))
    monkeypatch.setenv("CERTKEEPER_REDIS_URL_FILE", str(tmp_path / "redis"))
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://ck:s3cret@db:5432/ck"
    assert settings.redis_url == "redis://:s3cret@redis:6379/0"


def test_both_the_variable_and_its_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "keys").write_text(new_key_spec())
    monkeypatch.setenv("CERTKEEPER_ENCRYPTION_KEYS", new_key_spec())
    monkeypatch.setenv("CERTKEEPER_ENCRYPTION_KEYS_FILE", str(tmp_path / "keys"))
    with pytest.raises(ConfigError, match="CERTKEEPER_ENCRYPTION_KEYS or "
                                          "CERTKEEPER_ENCRYPTION_KEYS_FILE, not both"):
        load_settings()


def test_an_unreadable_file_names_the_variable_not_the_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTKEEPER_ENCRYPTION_KEYS_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="CERTKEEPER_ENCRYPTION_KEYS_FILE: cannot read"):
        load_settings()


def test_settings_that_are_not_secret_have_no_file_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "port").write_text("9999")
    monkeypatch.setenv("CERTKEEPER_HTTP_PORT_FILE", str(tmp_path / "port"))
    assert load_settings().http_port == 8080


def test_every_secret_setting_is_listed() -> None:
    names = file_variant_names(Settings)
    assert {"CERTKEEPER_ENCRYPTION_KEYS_FILE", "CERTKEEPER_DATABASE_URL_FILE",
            "CERTKEEPER_REDIS_URL_FILE"} <= set(names)
    assert "CERTKEEPER_HTTP_PORT_FILE" not in names
