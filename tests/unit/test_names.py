"""Certificate name normalisation and refusal rules (shared.names)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shared.choices import ChallengeType
from shared.errors import InvalidNames
from shared.names import MAX_NAMES, normalize_names

DNS = ChallengeType.DNS_01
HTTP = ChallengeType.HTTP_01


def refusals(
    common_name: str,
    sans: Sequence[str] = (),
    *,
    challenge_type: ChallengeType = DNS,
    allowed: Sequence[str] = (),
) -> list[dict[str, Any]]:
    with pytest.raises(InvalidNames) as caught:
        normalize_names(
            common_name,
            sans,
            challenge_type=challenge_type,
            allowed_private_suffixes=allowed,
        )
    invalid: list[dict[str, Any]] = caught.value.to_dict()["invalid_names"]
    return invalid


def reasons(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(entry["name"], entry["reason"]) for entry in entries]


# --- accepted names and normalisation -------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("example.com", "example.com"),
        ("www.example.co.uk", "www.example.co.uk"),
        ("bücher.example.com", "xn--bcher-kva.example.com"),
        ("BÜCHER.example.com", "xn--bcher-kva.example.com"),
        ("xn--bcher-kva.example.com", "xn--bcher-kva.example.com"),
        ("XN--BCHER-KVA.EXAMPLE.COM", "xn--bcher-kva.example.com"),
        ("WWW.Example.COM", "www.example.com"),
        ("example.com.", "example.com"),
        ("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25\u3002com", "example.com"),  # full-width
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008 keeps ß (IDNA 2003 made it "fass")
        ("a-b.example.com", "a-b.example.com"),
        ("foo.github.io", "foo.github.io"),
        ("*.example.com", "*.example.com"),
        ("*.Bücher.example.com.", "*.xn--bcher-kva.example.com"),
        ("a" * 63 + ".example.com", "a" * 63 + ".example.com"),
    ],
)
def test_normalises_one_name(given: str, expected: str) -> None:
    assert normalize_names(given, [], challenge_type=DNS) == [expected]


def test_common_name_first_and_duplicates_folded() -> None:
    names = normalize_names(
        "Bücher.Example.com.",
        ["www.example.com", "xn--bcher-kva.example.com", "WWW.EXAMPLE.COM.", "api.example.com"],
        challenge_type=DNS,
    )
    assert names == ["xn--bcher-kva.example.com", "www.example.com", "api.example.com"]


def test_common_name_stays_first_when_also_listed_later() -> None:
    names = normalize_names(
        "www.example.com", ["api.example.com", "www.example.com"], challenge_type=HTTP
    )
    assert names == ["www.example.com", "api.example.com"]


def test_name_of_253_bytes_accepted_over_http01() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57]) + ".com"
    assert len(name) == 253
    assert normalize_names(name, [], challenge_type=HTTP) == [name]


def test_dns01_name_is_refused_when_its_challenge_name_is_over_253() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 41]) + ".com"
    assert len("_acme-challenge." + longest) == 253
    assert normalize_names(longest, [], challenge_type=DNS) == [longest]
    assert normalize_names("*." + longest, [], challenge_type=DNS) == ["*." + longest]
    too_long = "e." + longest
    with pytest.raises(InvalidNames) as caught:
        normalize_names(too_long, [], challenge_type=DNS)
    assert caught.value.extensions["invalid_names"][0]["reason"] == "challenge-name-too-long"


# --- scripts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["p\u0430ypal.com", "xn--pypal-4ve.com", "\u0430pple.example.com", "g\u03bfogle.com",
     "\u0440\u0443\u0441abc.example.com"],
    ids=["cyrillic-a", "a-label", "leading-cyrillic", "greek-omicron", "cyrillic-latin"],
)
def test_a_label_mixing_scripts_is_refused(name: str) -> None:
    with pytest.raises(InvalidNames) as caught:
        normalize_names(name, [], challenge_type=HTTP)
    assert caught.value.extensions["invalid_names"][0]["reason"] == "mixed-script"
    assert normalize_names(name, [], challenge_type=HTTP, allow_mixed_scripts=True)


@pytest.mark.parametrize(
    "name",
    ["m\u00fcnchen.de", "\u043f\u0440\u0438\u043c\u0435\u0440.example.com",
     "\u65e5\u672c\u8a9e\u3068\u30ab\u30ca.jp", "abc\u65e5\u672c.jp",
     "\ud55c\uad6dabc.kr", "\u4e2d\u6587abc\u3105.com", "latin-1.example.com",
     "paypal.\u0440\u0443\u0441.example.com"],
    ids=["latin", "cyrillic", "japanese", "latin-han", "latin-hangul", "latin-bopomofo",
         "digits", "one-script-per-label"],
)
def test_one_script_or_a_cjk_mix_is_accepted(name: str) -> None:
    assert normalize_names(name, [], challenge_type=HTTP)


# --- too many names -------------------------------------------------------------------


def test_max_names_accepted() -> None:
    sans = [f"n{i}.example.com" for i in range(1, MAX_NAMES)]
    names = normalize_names("n0.example.com", sans, challenge_type=DNS)
    assert len(names) == MAX_NAMES == 100


def test_duplicates_do_not_count_towards_the_limit() -> None:
    sans = [f"N{i}.example.com." for i in range(MAX_NAMES)] * 2
    names = normalize_names("n0.example.com", sans, challenge_type=DNS)
    assert len(names) == MAX_NAMES


def test_more_than_max_names_refused() -> None:
    sans = [f"n{i}.example.com" for i in range(1, MAX_NAMES + 1)]
    entries = refusals("n0.example.com", sans)
    assert reasons(entries) == [("n100.example.com", "too-many-names")]
    assert "100" in entries[0]["detail"]


# --- refused names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        # wildcards
        ("*.*.example.com", "bad-wildcard"),
        ("a.*.example.com", "bad-wildcard"),
        ("*a.example.com", "bad-wildcard"),
        ("a*.example.com", "bad-wildcard"),
        ("*", "bad-wildcard"),
        ("*.com", "public-suffix"),
        ("*.co.uk", "public-suffix"),
        ("*.github.io", "public-suffix"),
        # IP literals
        ("192.0.2.1", "ip-address"),
        ("192.0.2.1.", "ip-address"),
        ("::1", "ip-address"),
        ("[::1]", "ip-address"),
        ("2001:db8::1", "ip-address"),
        ("[2001:db8::1]", "ip-address"),
        # lengths and empty labels
        ("a" * 64 + ".example.com", "bad-length"),
        ("ü" * 60 + ".example.com", "bad-length"),  # 60 characters, but over 63 as A-label
        (".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 58]) + ".com", "bad-length"),
        ("a..example.com", "empty-label"),
        (".example.com", "empty-label"),
        ("example.com..", "empty-label"),
        ("", "empty-label"),
        (".", "empty-label"),
        # characters
        ("a_b.example.com", "invalid-characters"),
        ("_acme-challenge.example.com", "invalid-characters"),
        ("a b.example.com", "invalid-characters"),
        (" example.com", "invalid-characters"),
        ("a\x00.example.com", "invalid-characters"),
        ("a\n.example.com", "invalid-characters"),
        ("a\x85.example.com", "invalid-characters"),
        ("a\uff3fb.example.com", "invalid-characters"),  # full-width "_" maps to "_"
        ("a!b.example.com", "invalid-characters"),
        ("https://example.com", "invalid-characters"),
        ("-a.example.com", "invalid-idna"),
        ("a-.example.com", "invalid-idna"),
        ("ab--cd.example.com", "invalid-idna"),
        ("xn--zz.example.com", "invalid-idna"),
        ("a\u2603.example.com", "invalid-idna"),  # snowman: not allowed in IDNA 2008
        # not public / public suffixes
        ("localhost", "not-public"),
        ("foo.localhost", "not-public"),
        ("example", "not-public"),
        ("foo.local", "not-public"),
        ("foo.internal", "not-public"),
        ("foo.invalid", "not-public"),
        ("foo.example", "not-public"),
        ("server", "not-public"),
        ("com", "public-suffix"),
        ("COM.", "public-suffix"),
        ("co.uk", "public-suffix"),
        ("github.io", "public-suffix"),
    ],
)
def test_refused(name: str, reason: str) -> None:
    entries = refusals(name)
    assert reasons(entries) == [(name, reason)]
    assert entries[0]["detail"]


def test_254_byte_name_refused() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 58]) + ".com"
    assert len(name) == 254
    assert reasons(refusals(name)) == [(name, "bad-length")]


def test_wildcard_over_253_bytes_refused() -> None:
    base = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 56]) + ".com"
    assert len(base) == 252
    assert normalize_names(base, [], challenge_type=HTTP) == [base]
    assert reasons(refusals("*." + base)) == [("*." + base, "bad-length")]


@pytest.mark.parametrize("name", ["*.example.com", "*.xn--bcher-kva.example.com"])
def test_wildcard_refused_with_http_01(name: str) -> None:
    assert reasons(refusals(name, challenge_type=HTTP)) == [(name, "wildcard-needs-dns-01")]


def test_wildcard_accepted_with_dns_01() -> None:
    assert normalize_names("example.com", ["*.example.com"], challenge_type=DNS) == [
        "example.com",
        "*.example.com",
    ]


def test_plain_name_accepted_with_http_01() -> None:
    assert normalize_names("example.com", [], challenge_type=HTTP) == ["example.com"]


# --- allowed private suffixes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("example.test", "example.test"),
        ("a.b.test", "a.b.test"),
        ("Example.TEST.", "example.test"),
        ("*.example.test", "*.example.test"),
        ("bücher.test", "xn--bcher-kva.test"),
    ],
)
def test_allowed_private_suffix_admits_names_below_it(name: str, expected: str) -> None:
    names = normalize_names(name, [], challenge_type=DNS, allowed_private_suffixes=["test"])
    assert names == [expected]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("test", "not-public"),
        ("xtest", "not-public"),
        ("example.nottest", "not-public"),
        ("*.test", "not-public"),
        ("foo.local", "not-public"),
        ("a_b.example.test", "invalid-characters"),
        ("a..test", "empty-label"),
        ("*.*.example.test", "bad-wildcard"),
    ],
)
def test_allowed_private_suffix_refuses_the_rest(name: str, reason: str) -> None:
    assert reasons(refusals(name, allowed=["test"])) == [(name, reason)]


def test_allowed_private_suffix_wildcard_still_needs_dns_01() -> None:
    entries = refusals("*.example.test", challenge_type=HTTP, allowed=["test"])
    assert reasons(entries) == [("*.example.test", "wildcard-needs-dns-01")]


@pytest.mark.parametrize("suffix", ["corp.internal", ".corp.internal", "CORP.Internal."])
def test_multi_label_allowed_suffix_is_normalised(suffix: str) -> None:
    names = normalize_names(
        "host.corp.internal", [], challenge_type=DNS, allowed_private_suffixes=[suffix]
    )
    assert names == ["host.corp.internal"]
    assert reasons(refusals("host.other.internal", allowed=[suffix])) == [
        ("host.other.internal", "not-public")
    ]


# --- all problems at once -------------------------------------------------------------


def test_every_problem_reported_at_once() -> None:
    with pytest.raises(InvalidNames) as caught:
        normalize_names(
            "example.com",
            ["foo.local", "www.example.com", "a_b.example.com"],
            challenge_type=DNS,
        )
    problem = caught.value.to_dict()
    assert problem["type"] == "urn:certkeeper:problem:invalid-names"
    assert problem["status"] == 422
    assert reasons(problem["invalid_names"]) == [
        ("foo.local", "not-public"),
        ("a_b.example.com", "invalid-characters"),
    ]
    assert problem["detail"].startswith("2 of 4 names cannot be requested")
    assert "foo.local" in problem["detail"]
    assert "a_b.example.com" in problem["detail"]
    assert all(set(entry) == {"name", "reason", "detail"} for entry in problem["invalid_names"])


def test_invalid_common_name_reported_with_the_rest() -> None:
    entries = refusals("localhost", ["*.com", "example.com"], challenge_type=HTTP)
    assert reasons(entries) == [("localhost", "not-public"), ("*.com", "public-suffix")]


def test_name_reported_as_given() -> None:
    entries = refusals("example.com", ["Foo.LOCAL."])
    assert reasons(entries) == [("Foo.LOCAL.", "not-public")]


def test_same_bad_name_reported_once() -> None:
    entries = refusals("example.com", ["foo.local", "foo.local"])
    assert reasons(entries) == [("foo.local", "not-public")]


def test_long_detail_is_shortened() -> None:
    bad = [f"host{i}.local" for i in range(25)]
    with pytest.raises(InvalidNames) as caught:
        normalize_names("example.com", bad, challenge_type=DNS)
    assert len(caught.value.to_dict()["invalid_names"]) == 25
    assert caught.value.detail.startswith("25 of 26 names cannot be requested")
    assert caught.value.detail.endswith("and 15 more")
