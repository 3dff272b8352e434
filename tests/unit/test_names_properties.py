"""Hypothesis against the name validator: whatever it accepts obeys every rule TESTING.md
lists (names built from the pieces those rules are about), and it raises nothing but its
own problem."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from publicsuffixlist import PublicSuffixList

from shared.choices import ChallengeType
from shared.errors import InvalidNames
from shared.names import MAX_NAMES, normalize_names

PSL = PublicSuffixList()
ALLOWED_PRIVATE = "test"

_pieces = st.sampled_from([
    "*", "**", "a*", "localhost", "local", "internal", "com", "uk", "co", "github", "io",
    "example", "test", "www", "_acme", "a_b", "a b", "a\x00b", "a\tb", "-a", "a-", "xn--",
    "xn--nxasmq6b", "b\u00fccher", "\u0430pple", "EXAMPLE", "127", "0", "1", "256", "::1",
    "[::1]", "a" * 63, "b" * 64, "", " ", ".", "\u3002", "\ufeff", "\u200b", "ß", "İ",
])
_labels = _pieces | st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
_endings = st.sampled_from([
    "example.com", "com", "example.test", "test", "co.uk", "example.co.uk", "github.io",
    "x.github.io", "local", "internal", "localhost", "invalid", "example", "Example.COM",
    "xn--p1ai", "xn--80ak6aa92e.com", "рф", "",
])
_names = st.builds(
    lambda labels, ending, dot: ".".join([*labels, ending]) + dot,
    st.lists(_labels, max_size=4), _endings, st.sampled_from(["", "", "", ".", ".."]),
) | st.sampled_from(["127.0.0.1", "::1", "[2001:db8::1]", "10.0.0.1.", "0x7f.1", "a" * 260])


def _suffix_ok(name: str) -> bool:
    """Under a listed public suffix and not one itself, or under the allowed private one."""
    base = name.removeprefix("*.")
    if base.endswith("." + ALLOWED_PRIVATE):
        return True
    public = PSL.publicsuffix(base, accept_unknown=False)
    return public is not None and public != base


def _obeys_the_rules(name: str, challenge_type: ChallengeType) -> None:
    assert name == name.lower() and name.isascii() and not name.endswith("."), name
    assert 0 < len(name) <= 253, name
    labels = name.split(".")
    assert all(1 <= len(label) <= 63 for label in labels), name
    if labels[0] == "*":
        assert challenge_type is ChallengeType.DNS_01, name
        labels = labels[1:]
    assert all(set(label) <= set("abcdefghijklmnopqrstuvwxyz0123456789-") for label in labels)
    assert all(not label.startswith("-") and not label.endswith("-") for label in labels), name
    assert name not in {"localhost"} and not name.endswith((".local", ".internal", ".localhost"))
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise AssertionError(f"an IP literal was accepted: {name}")
    assert _suffix_ok(name), name
    if challenge_type is ChallengeType.DNS_01:
        assert len("_acme-challenge." + name.removeprefix("*.")) <= 253, name


@settings(max_examples=600, deadline=None)
@given(_names, st.lists(_names, max_size=5), st.sampled_from(list(ChallengeType)),
       st.booleans())
def test_accepted_names_obey_every_rule(
    common_name: str, sans: list[str], challenge_type: ChallengeType, mixed: bool
) -> None:
    try:
        names = normalize_names(common_name, sans, challenge_type=challenge_type,
                                allowed_private_suffixes=[ALLOWED_PRIVATE],
                                allow_mixed_scripts=mixed)
    except InvalidNames as refused:
        assert refused.extensions["invalid_names"]
        return
    assert 1 <= len(names) <= MAX_NAMES and len(set(names)) == len(names)
    for name in names:
        _obeys_the_rules(name, challenge_type)


@settings(max_examples=50, deadline=None)
@given(st.integers(MAX_NAMES, MAX_NAMES + 20))
def test_more_than_the_limit_is_refused(count: int) -> None:
    sans = [f"n{i}.example.com" for i in range(count)]
    try:
        names = normalize_names("example.com", sans, challenge_type=ChallengeType.HTTP_01,
                                allowed_private_suffixes=[], allow_mixed_scripts=False)
    except InvalidNames:
        return
    assert len(names) <= MAX_NAMES
