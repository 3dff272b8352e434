"""The pure parts of ARI (RFC 9773) and profiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.acme_ari import (
    InvalidProfile,
    ari_certificate_id,
    check_profile,
    clamp_retry_after,
    parse_renewal_info,
)

# RFC 9773 section 4.1's example.
RFC_AKI = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
RFC_SERIAL = 0x0087654321
RFC_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def _certificate(serial: int, aki: bytes) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ari.example.test")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(serial)
        .not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )


def test_certificate_identifier_is_the_rfc_example() -> None:
    assert ari_certificate_id(_certificate(RFC_SERIAL, RFC_AKI)) == RFC_ID


def test_a_serial_with_its_high_bit_clear_gets_no_leading_zero() -> None:
    assert ari_certificate_id(_certificate(0x7F01, RFC_AKI)).endswith(".fwE")
    assert ari_certificate_id(_certificate(0x8001, RFC_AKI)).endswith(".AIAB")


@pytest.mark.parametrize(("given", "kept"), [
    (None, 21_600), (0, 60), (59.5, 60), (61, 61), (86_400, 86_400), (10**9, 86_400),
])
def test_retry_after_is_kept_between_a_minute_and_a_day(given: float | None, kept: int) -> None:
    assert clamp_retry_after(given) == kept


def test_renewal_info_is_read_as_aware_utc() -> None:
    window = parse_renewal_info(
        {"suggestedWindow": {"start": "2026-01-02T03:04:05Z", "end": "2026-01-03T00:00:00+01:00"},
         "explanationURL": "https://ca.example/why"}, 30,
    )
    assert window.start == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert window.end == datetime(2026, 1, 2, 23, tzinfo=UTC)
    assert (window.retry_after_seconds, window.explanation_url) == (60, "https://ca.example/why")


@pytest.mark.parametrize("body", [
    None, [], {}, {"suggestedWindow": "soon"},
    {"suggestedWindow": {"start": "2026-01-02T00:00:00Z"}},
    {"suggestedWindow": {"start": "2026-01-02T00:00:00", "end": "2026-01-03T00:00:00"}},
    {"suggestedWindow": {"start": "2026-01-03T00:00:00Z", "end": "2026-01-02T00:00:00Z"}},
])
def test_what_is_no_renewal_info_is_refused(body: object) -> None:
    with pytest.raises(ValueError):
        parse_renewal_info(body, None)


def test_profile_is_checked_only_when_the_ca_lists_profiles() -> None:
    listed = {"profiles": {"classic": "", "tlsserver": ""}}
    check_profile(listed, "tlsserver")
    check_profile(listed, None)
    check_profile({}, "anything")
    check_profile(None, "anything")
    with pytest.raises(InvalidProfile) as refused:
        check_profile(listed, "shortlived")
    assert refused.value.extensions["offered"] == ["classic", "tlsserver"]
