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
