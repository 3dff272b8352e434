"""Encryption at rest (AES-GCM keyring), private keys, CSRs and certificate facts.

Sealed format: ``0x01 | len(key_id) | key_id | nonce(12) | ciphertext+tag``. The key id travels
in the ciphertext so old rows stay readable after rotation; the associated data binds a
ciphertext to its row and column, so a sealed value copied to another row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from shared.choices import KeyType
from shared.errors import ConfigError, InvalidKeySpec

logger = logging.getLogger(__name__)

_FORMAT_VERSION = 1
_NONCE_BYTES = 12
KEY_FILE_NAME = "encryption.keys"

RSA_SIZES = (2048, 3072, 4096)
EC_CURVES: dict[str, ec.EllipticCurve] = {"p-256": ec.SECP256R1(), "p-384": ec.SECP384R1()}


class SealError(Exception):
    """A sealed value cannot be opened: unknown key id, wrong row, or tampered bytes."""


class Keyring:
    """AES-256-GCM keys by id. The first key seals; every key opens."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ConfigError("CERTKEEPER_ENCRYPTION_KEYS: at least one key is required")
        for key_id, key in keys:
            if len(key) != 32:
                raise ConfigError(f"CERTKEEPER_ENCRYPTION_KEYS: key {key_id!r} must be 32 bytes")
            if not key_id or len(key_id.encode()) > 255:
                raise ConfigError("CERTKEEPER_ENCRYPTION_KEYS: key ids must be 1-255 bytes")
        if len({key_id for key_id, _ in keys}) != len(keys):
            raise ConfigError("CERTKEEPER_ENCRYPTION_KEYS: key ids must be unique")
        self._primary_id = keys[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}

    @property
    def primary_id(self) -> str:
        return self._primary_id

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Parse ``id:base64key,id2:base64key`` (the first one seals)."""
        keys: list[tuple[str, bytes]] = []
        for item in spec.split(","):
            key_id, sep, encoded = item.strip().partition(":")
            if not sep:
                raise ConfigError("CERTKEEPER_ENCRYPTION_KEYS: expected id:base64key[,id:key]")
            try:
                keys.append((key_id, base64.b64decode(encoded, validate=True)))
            except ValueError:
                raise ConfigError(
                    f"CERTKEEPER_ENCRYPTION_KEYS: key {key_id!r} is not base64"
                ) from None
        return cls(keys)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        key_id = self._primary_id.encode()
        nonce = os.urandom(_NONCE_BYTES)
        body = self._keys[self._primary_id].encrypt(nonce, plaintext, context.encode())
        return bytes([_FORMAT_VERSION, len(key_id)]) + key_id + nonce + body

    def open(self, sealed: bytes, context: str) -> bytes:
        if len(sealed) < 2 or sealed[0] != _FORMAT_VERSION:
            raise SealError("unknown sealed format")
        id_end = 2 + sealed[1]
        key_id = sealed[2:id_end].decode(errors="replace")
        aead = self._keys.get(key_id)
        if aead is None:
            raise SealError(f"no key with id {key_id!r} in the keyring")
        nonce, body = sealed[id_end : id_end + _NONCE_BYTES], sealed[id_end + _NONCE_BYTES :]
        if len(nonce) != _NONCE_BYTES:
            raise SealError("sealed value is truncated")
        try:
            return aead.decrypt(nonce, body, context.encode())
        except InvalidTag:
            raise SealError("sealed value does not open for this row") from None

    def key_id_of(self, sealed: bytes) -> str:
        return sealed[2 : 2 + sealed[1]].decode(errors="replace")


def new_key_spec() -> str:
    """A fresh keyring spec with one random key, as ``certkeeper`` prints and stores it."""
    key_id = "k" + secrets.token_hex(4)
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def load_keyring(spec: str | None, *, data_dir: Path, embedded: bool) -> Keyring:
    """Keys from settings; in embedded mode without keys, a 0600 key file in the data dir."""
    if spec:
        return Keyring.parse(spec)
    if not embedded:
        raise ConfigError("CERTKEEPER_ENCRYPTION_KEYS: required with an external database")
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_spec() + "\n")
        logger.warning(
            "crypto.key_file_created",
            extra={"path": str(path), "hint": "set CERTKEEPER_ENCRYPTION_KEYS in production"},
        )
    return Keyring.parse(path.read_text().strip())


def generate_private_key(key_type: KeyType, key_size: int | None, curve: str | None) -> bytes:
    """A new private key as PKCS#8 PEM."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if key_type is KeyType.RSA:
        if key_size not in RSA_SIZES:
            raise InvalidKeySpec(f"RSA key_size must be one of {', '.join(map(str, RSA_SIZES))}")
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    else:
        if curve not in EC_CURVES:
            raise InvalidKeySpec(f"EC curve must be one of {', '.join(EC_CURVES)}")
        key = ec.generate_private_key(EC_CURVES[curve])
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_csr(private_key_pem: bytes, names: list[str]) -> bytes:
    """A CSR for ``names`` (the first is the common name when it fits in 64 characters)."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError("unsupported private key type")
    subject = []
    if len(names[0]) <= 64:
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, names[0]))
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    serial_hex: str
    names: list[str]
    not_before: datetime
    not_after: datetime
    issuer: str
    fingerprint_sha256: str


def split_pem_chain(chain_pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(chain_pem.encode())


def certificate_facts(chain_pem: str) -> CertificateFacts:
    leaf = split_pem_chain(chain_pem)[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return CertificateFacts(
        serial_hex=format(leaf.serial_number, "x"),
        names=names,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        issuer=leaf.issuer.rfc4514_string(),
        fingerprint_sha256=hashlib.sha256(
            leaf.public_bytes(serialization.Encoding.DER)
        ).hexdigest(),
    )


def public_key_matches(private_key_pem: bytes, chain_pem: str) -> bool:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    leaf = split_pem_chain(chain_pem)[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == leaf.public_key().public_bytes(*spki)
