"""Encryption at rest, private keys, CSRs and certificate facts (shared.crypto)."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from shared.choices import KeyType
from shared.crypto import (
    KEY_FILE_NAME,
    Keyring,
    SealError,
    certificate_facts,
    generate_private_key,
    load_keyring,
    make_csr,
    public_key_matches,
)
from shared.errors import ConfigError, InvalidKeySpec

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
CONTEXT = "certificates.private_key:11111111-1111-1111-1111-111111111111"
OTHER_CONTEXT = "certificates.private_key:22222222-2222-2222-2222-222222222222"
SECRET = b"-----BEGIN PRIVATE KEY-----\nnot really a key but secret\n"


def spec(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.b64encode(key).decode()}"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([("A", KEY_A)])


# --- sealing --------------------------------------------------------------------------


def test_seal_then_open_returns_the_plaintext(keyring: Keyring) -> None:
    assert keyring.open(keyring.seal(SECRET, CONTEXT), CONTEXT) == SECRET


def test_sealed_bytes_do_not_contain_the_plaintext(keyring: Keyring) -> None:
    sealed = keyring.seal(SECRET, CONTEXT)

    assert SECRET not in sealed
    assert b"not really a key" not in sealed


def test_sealing_twice_gives_different_bytes(keyring: Keyring) -> None:
    assert keyring.seal(SECRET, CONTEXT) != keyring.seal(SECRET, CONTEXT)


def test_value_sealed_for_one_row_does_not_open_for_another(keyring: Keyring) -> None:
    sealed = keyring.seal(SECRET, CONTEXT)

    with pytest.raises(SealError):
        keyring.open(sealed, OTHER_CONTEXT)


def test_every_single_byte_flip_is_detected(keyring: Keyring) -> None:
    sealed = keyring.seal(SECRET, CONTEXT)
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x80
        with pytest.raises(SealError):
            keyring.open(bytes(tampered), CONTEXT)


@pytest.mark.parametrize("keep", [0, 1, 2, 3, 8, 15])
def test_truncated_sealed_value_raises_seal_error(keyring: Keyring, keep: int) -> None:
    sealed = keyring.seal(SECRET, CONTEXT)

    with pytest.raises(SealError):
        keyring.open(sealed[:keep], CONTEXT)


# --- rotation -------------------------------------------------------------------------


def test_value_sealed_under_old_key_opens_after_rotation() -> None:
    old = Keyring.parse(spec("A", KEY_A))
    sealed = old.seal(SECRET, CONTEXT)

    rotated = Keyring.parse(f"{spec('B', KEY_B)},{spec('A', KEY_A)}")

    assert rotated.open(sealed, CONTEXT) == SECRET


def test_after_rotation_new_values_are_sealed_with_the_new_primary_key() -> None:
    old = Keyring.parse(spec("A", KEY_A))
    rotated = Keyring.parse(f"{spec('B', KEY_B)},{spec('A', KEY_A)}")

    assert rotated.primary_id == "B"
    assert rotated.key_id_of(old.seal(SECRET, CONTEXT)) == "A"
    assert rotated.key_id_of(rotated.seal(SECRET, CONTEXT)) == "B"


def test_keyring_without_the_sealing_key_names_the_missing_id() -> None:
    sealed = Keyring([("old-key", KEY_A)]).seal(SECRET, CONTEXT)

    with pytest.raises(SealError, match="old-key"):
        Keyring([("B", KEY_B)]).open(sealed, CONTEXT)


# --- parsing --------------------------------------------------------------------------


def test_parse_reads_several_keys_and_the_first_seals() -> None:
    ring = Keyring.parse(f" {spec('B', KEY_B)} , {spec('A', KEY_A)} ")

    assert ring.primary_id == "B"


def test_parse_without_colon_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"expected id:base64key"):
        Keyring.parse(base64.b64encode(KEY_A).decode())


def test_parse_bad_base64_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"'A' is not base64"):
        Keyring.parse("A:this is not base64!")


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_parse_key_of_wrong_length_is_a_config_error(length: int) -> None:
    encoded = base64.b64encode(os.urandom(length)).decode()

    with pytest.raises(ConfigError, match=r"'A' must be 32 bytes") as caught:
        Keyring.parse(f"A:{encoded}")
    if encoded:
        assert encoded not in str(caught.value)


def test_config_errors_name_the_environment_variable() -> None:
    with pytest.raises(ConfigError, match=r"^CERTKEEPER_ENCRYPTION_KEYS: "):
        Keyring.parse("nocolon")


def test_empty_keyring_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Keyring([])


# --- key file -------------------------------------------------------------------------


def test_embedded_without_spec_creates_a_private_key_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    load_keyring(None, data_dir=data_dir, embedded=True)

    key_file = data_dir / KEY_FILE_NAME
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_embedded_key_file_is_reused_on_the_next_start(tmp_path: Path) -> None:
    first = load_keyring(None, data_dir=tmp_path, embedded=True)
    sealed = first.seal(SECRET, CONTEXT)

    second = load_keyring(None, data_dir=tmp_path, embedded=True)

    assert second.primary_id == first.primary_id
    assert second.open(sealed, CONTEXT) == SECRET


def test_spec_wins_over_the_key_file(tmp_path: Path) -> None:
    ring = load_keyring(spec("given", KEY_A), data_dir=tmp_path, embedded=True)

    assert ring.primary_id == "given"
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_external_database_without_keys_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CERTKEEPER_ENCRYPTION_KEYS"):
        load_keyring(None, data_dir=tmp_path, embedded=False)
    assert not (tmp_path / KEY_FILE_NAME).exists()


# --- private keys ---------------------------------------------------------------------


def load_key(pem: bytes) -> object:
    return serialization.load_pem_private_key(pem, password=None)


def test_rsa_2048_key_is_generated_as_pkcs8_pem() -> None:
    pem = generate_private_key(KeyType.RSA, 2048, None)

    key = load_key(pem)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048


@pytest.mark.parametrize(("curve", "expected"), [("p-256", ec.SECP256R1), ("p-384", ec.SECP384R1)])
def test_ec_key_is_generated_on_the_requested_curve(
    curve: str, expected: type[ec.EllipticCurve]
) -> None:
    key = load_key(generate_private_key(KeyType.EC, None, curve))

    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, expected)


@pytest.mark.parametrize(
    ("key_type", "size", "curve"),
    [
        (KeyType.RSA, 1024, None),
        (KeyType.RSA, None, None),
        (KeyType.EC, None, "p-521"),
        (KeyType.EC, None, None),
    ],
)
def test_unsupported_key_spec_is_refused(
    key_type: KeyType, size: int | None, curve: str | None
) -> None:
    with pytest.raises(InvalidKeySpec):
        generate_private_key(key_type, size, curve)


# --- CSRs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ec_key_pem() -> bytes:
    return generate_private_key(KeyType.EC, None, "p-256")


def csr_of(pem: bytes) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(pem)


def test_csr_carries_exactly_the_names_as_dns_sans(ec_key_pem: bytes) -> None:
    names = ["www.example.test", "example.test", "*.api.example.test"]

    csr = csr_of(make_csr(ec_key_pem, names))

    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == names
    assert len(list(san)) == len(names)
    assert csr.is_signature_valid


def test_csr_common_name_is_the_first_name(ec_key_pem: bytes) -> None:
    csr = csr_of(make_csr(ec_key_pem, ["www.example.test", "example.test"]))

    common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [attr.value for attr in common_names] == ["www.example.test"]


def test_csr_has_no_common_name_when_the_first_name_is_too_long(ec_key_pem: bytes) -> None:
    long_name = ("a" * 60) + ".example.test"
    assert len(long_name) > 64

    csr = csr_of(make_csr(ec_key_pem, [long_name, "short.example.test"]))

    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [long_name, "short.example.test"]


def test_csr_public_key_is_the_given_key(ec_key_pem: bytes) -> None:
    csr = csr_of(make_csr(ec_key_pem, ["example.test"]))

    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    key = serialization.load_pem_private_key(ec_key_pem, password=None)
    assert csr.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


# --- certificate facts ----------------------------------------------------------------

NOT_BEFORE = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=90)
SERIAL = 0x0ABCDEF0123456789


def self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example.test")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(SERIAL)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("a.example.test"), x509.DNSName("b.example.test")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def leaf_key_pem() -> bytes:
    return generate_private_key(KeyType.EC, None, "p-256")


@pytest.fixture(scope="module")
def leaf(leaf_key_pem: bytes) -> x509.Certificate:
    key = serialization.load_pem_private_key(leaf_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return self_signed(key)


@pytest.fixture(scope="module")
def chain_pem(leaf: x509.Certificate) -> str:
    return leaf.public_bytes(serialization.Encoding.PEM).decode()


def test_facts_report_the_serial_as_lowercase_hex(chain_pem: str) -> None:
    assert certificate_facts(chain_pem).serial_hex == "abcdef0123456789"


def test_facts_report_the_dns_names(chain_pem: str) -> None:
    assert certificate_facts(chain_pem).names == ["a.example.test", "b.example.test"]


def test_facts_report_validity_as_aware_utc(chain_pem: str) -> None:
    facts = certificate_facts(chain_pem)

    assert facts.not_before == NOT_BEFORE
    assert facts.not_after == NOT_AFTER
    assert facts.not_before.utcoffset() == timedelta(0)
    assert facts.not_after.utcoffset() == timedelta(0)


def test_facts_report_the_issuer(chain_pem: str) -> None:
    assert certificate_facts(chain_pem).issuer == "CN=a.example.test"


def test_fingerprint_is_sha256_of_the_der_certificate(
    chain_pem: str, leaf: x509.Certificate
) -> None:
    expected = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()

    assert certificate_facts(chain_pem).fingerprint_sha256 == expected


def test_facts_describe_the_first_certificate_of_a_chain(chain_pem: str, ec_key_pem: bytes) -> None:
    other_key = serialization.load_pem_private_key(ec_key_pem, password=None)
    assert isinstance(other_key, ec.EllipticCurvePrivateKey)
    other = self_signed(other_key).public_bytes(serialization.Encoding.PEM).decode()

    facts = certificate_facts(chain_pem + other)

    assert facts.fingerprint_sha256 == certificate_facts(chain_pem).fingerprint_sha256


def test_public_key_matches_the_key_the_certificate_was_made_for(
    leaf_key_pem: bytes, chain_pem: str
) -> None:
    assert public_key_matches(leaf_key_pem, chain_pem) is True


def test_public_key_does_not_match_another_key(ec_key_pem: bytes, chain_pem: str) -> None:
    assert public_key_matches(ec_key_pem, chain_pem) is False
