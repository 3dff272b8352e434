"""Pure checks at the ACME boundary: which addresses may be contacted (and the setting that
allows internal ones), what is a directory, what is a base64url EAB key."""

from __future__ import annotations

import ipaddress
import json

import pytest

from shared.acme_directory import AcmeDirectoryInvalid, parse_directory
from shared.acme_http import refusal
from shared.config import load_settings
from shared.domain.accounts import is_base64url
from shared.errors import ConfigError

ip = ipaddress.ip_address
net = ipaddress.ip_network


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("10.1.2.3", "private"),
    ("192.168.0.1", "private"),
    ("fd00::1", "private"),
    ("::ffff:10.0.0.1", "private"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not a bind
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not-global"),
    ("8.8.8.8", None),
    ("2606:4700::1111", None),
])
def test_only_global_addresses_may_be_contacted(address: str, reason: str | None) -> None:
    assert refusal(ip(address), []) == reason


def test_allowed_networks_open_internal_addresses() -> None:
    allowed = [net("10.0.0.0/8"), net("127.0.0.1/32")]
    assert refusal(ip("10.9.9.9"), allowed) is None
    assert refusal(ip("::ffff:10.9.9.9"), allowed) is None
    assert refusal(ip("127.0.0.1"), allowed) is None
    assert refusal(ip("127.0.0.2"), allowed) == "loopback"


GOOD = {"newNonce": "https://ca.example/n", "newAccount": "https://ca.example/a",
        "newOrder": "https://ca.example/o"}


def test_a_directory_with_its_resources_parses() -> None:
    document = {**GOOD, "revokeCert": "https://ca.example/r",
                "meta": {"externalAccountRequired": True}}
    directory = parse_directory(json.dumps(document).encode())
    assert directory["newOrder"] == "https://ca.example/o"
    assert directory.meta.external_account_required is True


@pytest.mark.parametrize("document", [
    b"", b"<html>", b"{}", b"[]", b'"x"', b"null", b"7", b"true",
    json.dumps({k: v for k, v in GOOD.items() if k != "newNonce"}).encode(),
    json.dumps({**GOOD, "newOrder": "http://ca.example/o"}).encode(),
    json.dumps({**GOOD, "newAccount": ["https://ca.example/a"]}).encode(),
    json.dumps({**GOOD, "keyChange": "file:///etc/passwd"}).encode(),
    json.dumps({**GOOD, "meta": "x"}).encode(),
])
def test_anything_else_is_an_invalid_directory(document: bytes) -> None:
    with pytest.raises(AcmeDirectoryInvalid):
        parse_directory(document)


@pytest.mark.parametrize(("value", "valid"), [
    ("zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W", True),
    ("abc_-w", True), ("abcd", True), ("ab==", True), ("abc=", True),
    ("abcde", False), ("a+b/", False), ("not base64url!", False), ("ab=", False),
    ("=", False), ("", False),
])
def test_eab_keys_must_be_base64url(value: str, valid: bool) -> None:
    assert is_base64url(value) is valid


def test_allowed_networks_setting_is_a_list_of_cidrs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTKEEPER_ACME_ALLOWED_NETWORKS", "127.0.0.0/8, fd00::/8,")
    assert load_settings().acme_allowed_networks == [net("127.0.0.0/8"), net("fd00::/8")]
    monkeypatch.setenv("CERTKEEPER_ACME_ALLOWED_NETWORKS", "")
    assert load_settings().acme_allowed_networks == []


@pytest.mark.parametrize("value", ["10.0.0.1/8", "intranet", "10.0.0.0/33"])
def test_a_bad_network_is_a_config_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CERTKEEPER_ACME_ALLOWED_NETWORKS", value)
    with pytest.raises(ConfigError, match="CERTKEEPER_ACME_ALLOWED_NETWORKS"):
        load_settings()
