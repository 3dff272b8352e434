"""ACME Renewal Information (RFC 9773) and profiles: the pure parts.

The certificate identifier, the window a CA suggests and how long to wait before asking
again are decided here without a network; :class:`shared.acme_gateway.AcmeGateway` fetches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from josepy import b64

from shared.errors import ValidationProblem

# RFC 9773 4.3: ask again after Retry-After, kept between one minute and one day.
MIN_RETRY_AFTER_SECONDS = 60
MAX_RETRY_AFTER_SECONDS = 86_400
DEFAULT_RETRY_AFTER_SECONDS = 6 * 3600  # when the CA sends none (RFC 9773 4.3.3)
# A newOrder whose ``replaces`` names a certificate already replaced (RFC 9773 7.4).
ALREADY_REPLACED = "urn:ietf:params:acme:error:alreadyReplaced"


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    """The CA's ``suggestedWindow`` (aware UTC), and when to ask again."""

    start: datetime
    end: datetime
    retry_after_seconds: int
    explanation_url: str | None = None


class InvalidProfile(ValidationProblem):
    slug = "invalid-profile"
    title = "The CA does not offer this ACME profile"


def ari_certificate_id(cert: x509.Certificate) -> str:
    """base64url(AKI keyIdentifier) "." base64url(serial as DER INTEGER content octets).
    Raises ValueError for a certificate without an Authority Key Identifier (no ARI)."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound as exc:
        raise ValueError("the certificate has no Authority Key Identifier") from exc
    if aki.key_identifier is None:
        raise ValueError("the certificate's Authority Key Identifier has no keyIdentifier")
    serial = cert.serial_number
    serial_der = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)
    return f"{b64.b64encode(aki.key_identifier).decode()}.{b64.b64encode(serial_der).decode()}"


def ari_id_of_chain(chain_pem: str) -> str | None:
    """The identifier of a chain's leaf, None when it has none (no AKI: ARI cannot name it)."""
    try:
        return ari_certificate_id(x509.load_pem_x509_certificate(chain_pem.encode()))
    except ValueError:
        return None


def clamp_retry_after(seconds: float | None) -> int:
    """The CA's Retry-After, or the default, kept between one minute and one day."""
    wanted = DEFAULT_RETRY_AFTER_SECONDS if seconds is None else seconds
    return int(min(max(wanted, MIN_RETRY_AFTER_SECONDS), MAX_RETRY_AFTER_SECONDS))


def parse_renewal_info(body: Any, retry_after: float | None) -> RenewalWindow:
    """A renewalInfo answer; raises ValueError when it is not one (start after end, naive)."""
    if not isinstance(body, dict) or not isinstance(body.get("suggestedWindow"), dict):
        raise ValueError("renewalInfo has no suggestedWindow object")
    window = body["suggestedWindow"]
    start, end = _instant(window.get("start")), _instant(window.get("end"))
    if end <= start:
        raise ValueError("renewalInfo's suggestedWindow ends before it starts")
    explanation = body.get("explanationURL")
    return RenewalWindow(
        start=start, end=end, retry_after_seconds=clamp_retry_after(retry_after),
        explanation_url=explanation if isinstance(explanation, str) else None,
    )


def _instant(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("renewalInfo time is not a string")
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("renewalInfo time has no offset")
    return when.astimezone(UTC)


def directory_meta(directory: Any) -> dict[str, Any]:
    """The ``meta`` object of an ``acme`` Directory, as JSON (empty when there is none)."""
    try:
        meta = directory["meta"]
    except KeyError:
        return {}
    found: dict[str, Any] = meta.to_partial_json() if hasattr(meta, "to_partial_json") else {}
    return found


def check_profile(directory_meta: Mapping[str, Any] | None, profile: str | None) -> None:
    """Refuse a profile the CA's directory does not list. A CA listing no profiles gets
    any profile passed on (it may know ones it does not advertise, or refuse the order)."""
    if profile is None:
        return
    offered = (directory_meta or {}).get("profiles")
    if isinstance(offered, Mapping) and offered and profile not in offered:
        names = sorted(str(name) for name in offered)
        raise InvalidProfile(
            f"the CA offers the profiles {', '.join(names)}, not {profile!r}", offered=names
        )
