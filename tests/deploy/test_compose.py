"""docker-compose.yml checked without a container engine: every Certkeeper service runs a
real ``certkeeper`` sub-command, every CERTKEEPER_ variable is a real setting whose resolved
value the settings accept, and the start order holds (health checks, depends_on)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from services.cli import _parser
from shared.config import Settings, load_settings
from shared.crypto import new_key_spec
from tests.deploy.compose import command, environment, interpolate, load

SETTINGS = {f"CERTKEEPER_{name.upper()}" for name in Settings.model_fields}
LONG_RUNNING = {"api", "responder", "issuer", "renewer", "notifier"}
NEEDS_REDIS = {"api", "issuer", "renewer"}
SERVES_HTTP = {"api": "CERTKEEPER_HTTP_PORT", "responder": "CERTKEEPER_RESPONDER_PORT"}
TRY_OUT = {"pebble", "challtestsrv"}
DOTENV = {"CERTKEEPER_ENCRYPTION_KEYS": new_key_spec(), "POSTGRES_PASSWORD": "pw"}


def _services() -> dict[str, dict[str, Any]]:
    services = load()["services"]
    assert isinstance(services, dict)
    return services


def _certkeeper_services() -> dict[str, dict[str, Any]]:
    return {
        name: service for name, service in _services().items()
        if str(service.get("image", "")).startswith("certkeeper:")
    }


def test_the_certkeeper_processes_are_all_there() -> None:
    assert set(_certkeeper_services()) == LONG_RUNNING | {"migrate"}
    assert {"postgres", "redis"} <= set(_services())


@pytest.mark.parametrize("name", sorted(LONG_RUNNING | {"migrate"}))
def test_each_command_is_a_certkeeper_sub_command(name: str) -> None:
    argv = command(_certkeeper_services()[name])
    assert argv, f"{name} relies on the image's default command"
    try:
        _parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{name}: `certkeeper {' '.join(argv)}` is not a certkeeper command")


@pytest.mark.parametrize("name", sorted(LONG_RUNNING | {"migrate"}))
def test_each_variable_is_a_setting_and_its_value_is_accepted(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment(_certkeeper_services()[name], DOTENV)
    unknown = {var for var in env if var.startswith("CERTKEEPER_")} - SETTINGS
    assert not unknown, f"{name} sets variables that are no setting: {sorted(unknown)}"
    for var in [v for v in os.environ if v.startswith("CERTKEEPER_")]:
        monkeypatch.delenv(var)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    settings = load_settings()
    assert settings.database_url is not None and settings.database_url.startswith("postgresql")
    assert settings.redis_url == "redis://redis:6379/0"


def test_the_encryption_keys_are_required_from_the_environment() -> None:
    with pytest.raises(ValueError, match="CERTKEEPER_ENCRYPTION_KEYS"):
        environment(_certkeeper_services()["api"], {})


def test_migrations_run_once_before_every_process() -> None:
    services = _services()
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in LONG_RUNNING:
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        if name in NEEDS_REDIS:
            assert depends["redis"] == {"condition": "service_healthy"}, name


def test_every_awaited_health_check_exists_and_listeners_are_checked() -> None:
    services = _services()
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert not (target in TRY_OUT and name not in TRY_OUT), (
                f"{name} would need the try-out profile"
            )
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
    for name, port_setting in SERVES_HTTP.items():
        service = services[name]
        port = environment(service, DOTENV)[port_setting]
        probe = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/" in probe, f"{name}'s health check misses its port {port}"


def test_only_the_responder_is_public_and_the_api_stays_on_loopback() -> None:
    services = _services()
    assert services["api"]["ports"] == ["127.0.0.1:8080:8080"]
    responder_port = environment(services["responder"], DOTENV)["CERTKEEPER_RESPONDER_PORT"]
    assert services["responder"]["ports"] == [f"80:{responder_port}"]
    for name in LONG_RUNNING - {"api", "responder"}:
        assert "ports" not in services[name], f"{name} publishes a port"


def test_images_are_pinned_and_the_try_out_is_a_profile() -> None:
    for name, service in _services().items():
        image = interpolate(str(service["image"]), {})
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"
        assert ("profiles" in service) == (name in TRY_OUT), name
        if name in TRY_OUT:
            assert service["profiles"] == ["pebble"]
