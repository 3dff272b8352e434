"""Providers found by ``kind``: each provider module declares one
:class:`~shared.dns.base.ProviderKind` (its config and credentials models and a factory) and
is listed in ``KINDS`` below. Adding a provider is one module and one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.dns import azure, cloudflare, rfc2136, route53
from shared.dns.base import DnsProvider, ProviderKind
from shared.errors import ValidationProblem


class InvalidProviderSettings(ValidationProblem):
    slug = "invalid-dns-provider"
    title = "The DNS provider's kind, config or credentials are not valid"


# One line per provider module: ``rfc2136.KIND,`` and so on.
_PROVIDERS: tuple[ProviderKind, ...] = (
    rfc2136.KIND,
    route53.KIND,
    cloudflare.KIND,
    azure.KIND,
)
KINDS: Mapping[str, ProviderKind] = {kind.name: kind for kind in _PROVIDERS}


def provider_kind(kind: str) -> ProviderKind:
    found = KINDS.get(kind)
    if found is None:
        raise InvalidProviderSettings(
            f"unknown DNS provider kind {kind!r}; one of {', '.join(sorted(KINDS))}"
        )
    return found


def validated(kind: str, config: Mapping[str, Any], credentials: Mapping[str, Any]
              ) -> tuple[BaseModel, BaseModel]:
    """The kind's config and credentials models, or :class:`InvalidProviderSettings` naming
    the fields (never their values: credentials are secret)."""
    spec = provider_kind(kind)
    try:
        return spec.config.model_validate(config), spec.credentials.model_validate(credentials)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise InvalidProviderSettings(f"{kind}: {fields}") from None


def build_provider(kind: str, config: Mapping[str, Any], credentials: Mapping[str, Any]
                   ) -> DnsProvider:
    checked_config, checked_credentials = validated(kind, config, credentials)
    return provider_kind(kind).build(checked_config, checked_credentials)
