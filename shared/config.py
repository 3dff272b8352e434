"""Settings from ``CERTKEEPER_*`` environment variables, read once at process start by
the CLI and passed down (no import-time globals)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.dns_lookup import parse_resolver
from shared.errors import ConfigError
from shared.secret_files import SecretFileSource

LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CERTKEEPER_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    # Postgres connections one process keeps (see shared.db).
    database_pool_size: int = Field(30, ge=1, le=1000)
    redis_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    # The public HTTP-01 responder's own listener (only /.well-known/acme-challenge/ and
    # /healthz). Unset: the api port serves the challenges too.
    responder_port: int | None = Field(None, ge=1, le=65535)
    # Where a worker process serves /metrics (the api serves it on its own port).
    metrics_port: int | None = Field(None, ge=1, le=65535)
    acme_directory_url: str = LETS_ENCRYPT_PRODUCTION
    acme_ca_bundle: Path | None = None
    encryption_keys: SecretStr | None = None
    dns_resolvers: CommaList = []
    allowed_private_suffixes: CommaList = []
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Worker tuning. The lease bounds how long a killed worker holds a request.
    worker_max_jobs: int = Field(100, ge=1, le=1000)
    job_lease_seconds: float = Field(60.0, gt=0)
    sweep_interval_seconds: float = Field(15.0, gt=0)
    queue_poll_seconds: float = Field(0.02, gt=0)
    acme_timeout_seconds: int = Field(15, ge=1)
    # Automatic requests whose order went invalid: seconds before each fresh order
    # (comma list); once used up, the request fails.
    order_retry_seconds: Annotated[list[float], NoDecode] = [60.0, 600.0, 6000.0]
    # Internal networks (CIDRs) an ACME CA may be reached at; all others must be global.
    acme_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = []
    # Log SQL statements (never their parameters); off at every log level unless set.
    log_sql: bool = False
    # Admit names whose labels mix scripts (Latin + Cyrillic...), which homographs use.
    allow_mixed_script_names: bool = False
    # DNS-01 propagation: "authoritative" waits until every authoritative nameserver of the
    # zone serves the record (asked at DNS_AUTHORITATIVE_PORT); "resolvers" asks only
    # DNS_RESOLVERS (split-horizon networks). Past the timeout the request fails.
    dns_propagation: Literal["authoritative", "resolvers"] = "authoritative"
    dns_authoritative_port: int = Field(53, ge=1, le=65535)
    dns_propagation_timeout_seconds: float = Field(600.0, gt=0)
    # The renewer sleeps until the next planned renewal, at most this long.
    renewer_max_sleep_seconds: float = Field(3600.0, gt=0)
    # Notifications: email over SMTP (unset host: email deliveries wait, retried), and
    # webhooks, which may reach private addresses only when allowed.
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "certkeeper@localhost"
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    smtp_ca_bundle: Path | None = None  # extra CAs to trust for the SMTP server's TLS
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    # The notifier looks at the outbox this often, sweeps for expiring certificates and
    # overdue renewals this often, and calls a renewal overdue this long after its time.
    notifier_poll_seconds: float = Field(1.0, gt=0)
    notifier_sweep_seconds: float = Field(60.0, gt=0)
    notifier_overdue_margin_seconds: float = Field(3600.0, ge=0)

    _split = field_validator(
        "dns_resolvers", "allowed_private_suffixes", "order_retry_seconds",
        "acme_allowed_networks", mode="before"
    )(_split_commas)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment, then ``CERTKEEPER_<NAME>_FILE`` for secrets (shared.secret_files)."""
        return (init_settings, env_settings, SecretFileSource(settings_cls), dotenv_settings,
                file_secret_settings)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept the usual ``postgres://`` and ``sqlite:///`` forms; use the async drivers."""
        if value is None or value == "":
            return None
        for plain, driver in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("sqlite:///", "sqlite+aiosqlite:///"),
        ):
            if value.startswith(plain):
                return driver + value[len(plain) :]
        if value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite:///")):
            return value
        raise ValueError("must be a postgresql:// or sqlite:/// URL")

    @field_validator("acme_directory_url")
    @classmethod
    def _https_directory(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value

    @field_validator("acme_ca_bundle", "smtp_ca_bundle")
    @classmethod
    def _bundle_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("dns_resolvers")
    @classmethod
    def _resolver_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_resolver(entry)  # an IP literal ([v6] when a port follows), port 1-65535
        return value

    @field_validator("allowed_private_suffixes")
    @classmethod
    def _suffixes(cls, value: list[str]) -> list[str]:
        return [suffix.strip(".").lower() for suffix in value]

    @field_validator("order_retry_seconds")
    @classmethod
    def _positive_delays(cls, value: list[float]) -> list[float]:
        if any(delay <= 0 for delay in value):
            raise ValueError("every delay must be more than 0 seconds")
        return value

    @field_validator("responder_port", "metrics_port", "smtp_host", "smtp_username",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'certkeeper.db').resolve()}"

    @property
    def embedded_database(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")


def load_settings() -> Settings:
    """Build settings from the environment, or raise :class:`ConfigError` with one line."""
    try:
        return Settings()
    except ValidationError as exc:
        parts = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            parts.append(f"CERTKEEPER_{field.upper()}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(parts)) from None
