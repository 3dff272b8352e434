"""Settings from CERTKEEPER_* environment variables (shared.config) and the CLI's report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import load_settings
from shared.errors import ConfigError

CERTKEEPER_SCRIPT = Path(sys.executable).parent / "certkeeper"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets counts: drop inherited CERTKEEPER_* variables."""
    for name in list(os.environ):
        if name.startswith("CERTKEEPER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CERTKEEPER_DATA_DIR", str(tmp_path))


def config_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return str(caught.value)


# --- database URL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_uses_the_async_driver(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("CERTKEEPER_DATABASE_URL", given)

    settings = load_settings()

    assert settings.database_url == expected
    assert settings.sqlalchemy_url == expected


def test_unsupported_database_url_is_a_one_line_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(monkeypatch, "CERTKEEPER_DATABASE_URL", "mysql://u@h/db")

    assert "CERTKEEPER_DATABASE_URL" in message
    assert "\n" not in message


def test_config_error_does_not_repeat_the_rejected_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(monkeypatch, "CERTKEEPER_DATABASE_URL", "mysql://user:hunter2@h/db")

    assert "hunter2" not in message


def test_plain_http_acme_directory_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch, "CERTKEEPER_ACME_DIRECTORY_URL", "http://acme.example.test/directory"
    )

    assert "CERTKEEPER_ACME_DIRECTORY_URL" in message


def test_https_acme_directory_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://acme.example.test/directory"
    monkeypatch.setenv("CERTKEEPER_ACME_DIRECTORY_URL", url)

    assert load_settings().acme_directory_url == url


def test_several_errors_are_reported_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTKEEPER_ACME_DIRECTORY_URL", "http://acme.example.test/")
    message = config_error(monkeypatch, "CERTKEEPER_DATABASE_URL", "mysql://u@h/db")

    assert "CERTKEEPER_ACME_DIRECTORY_URL" in message
    assert "CERTKEEPER_DATABASE_URL" in message
    assert "\n" not in message


# --- lists ----------------------------------------------------------------------------


def test_allowed_private_suffixes_are_split_and_normalised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTKEEPER_ALLOWED_PRIVATE_SUFFIXES", "test, .Example.")

    assert load_settings().allowed_private_suffixes == ["test", "example"]


def test_dns_resolvers_are_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTKEEPER_DNS_RESOLVERS", "192.0.2.1, 192.0.2.2,")

    assert load_settings().dns_resolvers == ["192.0.2.1", "192.0.2.2"]


def test_lists_default_to_empty() -> None:
    settings = load_settings()

    assert settings.allowed_private_suffixes == []
    assert settings.dns_resolvers == []


# --- embedded database ----------------------------------------------------------------


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()

    expected = f"sqlite+aiosqlite:///{(tmp_path / 'certkeeper.db').resolve()}"
    assert settings.database_url is None
    assert settings.sqlalchemy_url == expected
    assert settings.embedded_database is True


def test_empty_database_url_means_the_embedded_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTKEEPER_DATABASE_URL", "")

    assert load_settings().embedded_database is True


def test_sqlite_database_url_is_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTKEEPER_DATABASE_URL", "sqlite:///x.db")

    assert load_settings().embedded_database is True


def test_postgres_database_is_not_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTKEEPER_DATABASE_URL", "postgresql://u@h/db")

    assert load_settings().embedded_database is False


# --- ports ----------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["0", "65536", "notaport"])
def test_invalid_http_port_is_a_config_error(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    assert "CERTKEEPER_HTTP_PORT" in config_error(monkeypatch, "CERTKEEPER_HTTP_PORT", port)


def test_http_port_is_read_as_an_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTKEEPER_HTTP_PORT", "9443")

    assert load_settings().http_port == 9443


# --- the console script ---------------------------------------------------------------


def test_cli_reports_bad_configuration_in_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTKEEPER_")}
    env["CERTKEEPER_DATA_DIR"] = str(tmp_path)
    env["CERTKEEPER_HTTP_PORT"] = "notaport"

    result = subprocess.run(
        [str(CERTKEEPER_SCRIPT), "api"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("certkeeper: invalid configuration")
    assert "CERTKEEPER_HTTP_PORT" in lines[0]
