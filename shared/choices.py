"""What a certificate request chooses: the challenge, how it is validated, the key type.
Stored as strings (non-native enums) so SQLite and Postgres agree."""

from __future__ import annotations

from enum import StrEnum


class ChallengeType(StrEnum):
    HTTP_01 = "http-01"
    DNS_01 = "dns-01"


class ValidationMode(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class KeyType(StrEnum):
    RSA = "rsa"
    EC = "ec"


class RevocationReason(StrEnum):
    """The CRL reasons a subscriber may give (RFC 5280 5.3.1), by their codes below."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"

    @property
    def code(self) -> int:
        return _REASON_CODES[self]


_REASON_CODES = {
    RevocationReason.UNSPECIFIED: 0,
    RevocationReason.KEY_COMPROMISE: 1,
    RevocationReason.AFFILIATION_CHANGED: 3,
    RevocationReason.SUPERSEDED: 4,
    RevocationReason.CESSATION_OF_OPERATION: 5,
}
