"""Which DNS names a certificate may hold, and in what form.

:func:`normalize_names` turns the common name and subject alternative names of a request
into the names that go in the CSR: IDNA 2008 A-labels (UTS #46 mapping, via the ``idna``
package rather than Python's IDNA 2003 codec), lower case, without the trailing dot,
deduplicated, common name first. A name is refused when it is an IP address, malformed, a
misplaced wildcard, not under a public suffix, or a public suffix itself. Every refused
name is reported at once in one :class:`~shared.errors.InvalidNames`, each with a stable
reason code: ``too-many-names``, ``bad-wildcard``, ``wildcard-needs-dns-01``,
``public-suffix``, ``not-public``, ``ip-address``, ``bad-length``, ``empty-label``,
``invalid-characters``, ``invalid-idna``, ``mixed-script`` (a label mixes writing systems,
as look-alike names such as a Latin ``paypal`` with a Cyrillic ``\u0430`` do; refused unless
allowed, following the browsers' IDN display policies) or ``challenge-name-too-long`` (for
dns-01, ``_acme-challenge.<name>`` would be longer than 253 bytes, so no CA can validate it).
"""

from __future__ import annotations

import functools
import ipaddress
import string
import unicodedata
from collections.abc import Sequence

import idna
from publicsuffixlist import PublicSuffixList

from shared.choices import ChallengeType
from shared.errors import InvalidNames
from shared.unicode_scripts import is_safe_mix, scripts_of

MAX_NAMES = 100
MAX_NAME_LENGTH = 253  # octets of the A-label form, without the trailing dot (RFC 1035)
DNS01_PREFIX = "_acme-challenge."

_ALLOWED_ASCII = frozenset(string.ascii_letters + string.digits + "-.*")
_LENGTH_CODES = frozenset({"label_too_long", "domain_too_long", "input_too_long"})
_EMPTY_CODES = frozenset({"empty_label", "empty_domain"})
_LISTED_IN_DETAIL = 10
_EMPTY_DETAIL = "the name is empty or has an empty label (two dots in a row, or a leading dot)"


class _Refused(Exception):
    """One name cannot be requested; carries the reason code and a sentence for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """The bundled Public Suffix List, ICANN and private sections. Slow to build: built once."""
    return PublicSuffixList()


def normalize_names(
    common_name: str,
    subject_alternative_names: Sequence[str],
    *,
    challenge_type: ChallengeType,
    allowed_private_suffixes: Sequence[str] = (),
    allow_mixed_scripts: bool = False,
) -> list[str]:
    """Return the certificate's names, common name first, normalised and deduplicated,
    or raise shared.errors.InvalidNames listing every refused name with its reason.

    ``allowed_private_suffixes`` (such as ``test`` or ``corp.internal``) admit names
    strictly below them that the Public Suffix List does not know; a malformed entry
    raises :class:`ValueError`. ``allow_mixed_scripts`` admits labels that mix scripts.
    """
    allowed = _normalize_suffixes(allowed_private_suffixes)
    given = list(dict.fromkeys([common_name, *subject_alternative_names]))
    accepted: dict[str, str] = {}  # normalised name -> first name as given
    problems: list[dict[str, str]] = []
    for raw in given:
        try:
            name = _normalize_one(raw, challenge_type, allowed)
            if not allow_mixed_scripts:
                _check_scripts(name)
        except _Refused as refused:
            problems.append({"name": raw, "reason": refused.reason, "detail": refused.detail})
        else:
            accepted.setdefault(name, raw)
    problems.extend(_too_many(accepted))
    if problems:
        raise InvalidNames(_summary(problems, len(given)), invalid_names=problems)
    return list(accepted)


def _normalize_suffixes(suffixes: Sequence[str]) -> tuple[str, ...]:
    return tuple(idna.encode(s.strip("."), uts46=True).decode("ascii") for s in suffixes)


def _normalize_one(raw: str, challenge_type: ChallengeType, allowed: Sequence[str]) -> str:
    if _is_ip_literal(raw):
        raise _Refused("ip-address", "IP addresses cannot be requested, only DNS names")
    labels = _mapped_labels(raw)
    wildcard = _is_wildcard(labels)
    base = _a_labels(".".join(labels[1:] if wildcard else labels))
    name = "*." + base if wildcard else base
    if len(name) > MAX_NAME_LENGTH:
        raise _Refused("bad-length", f"the name is longer than {MAX_NAME_LENGTH} bytes")
    if challenge_type is ChallengeType.DNS_01 and len(DNS01_PREFIX + base) > MAX_NAME_LENGTH:
        raise _Refused(
            "challenge-name-too-long",
            f"{DNS01_PREFIX}{base} would be longer than {MAX_NAME_LENGTH} bytes, so no CA "
            "can validate the name over dns-01",
        )
    _check_suffix(base, wildcard, allowed)
    if wildcard and challenge_type is ChallengeType.HTTP_01:
        raise _Refused("wildcard-needs-dns-01", "a wildcard name can only be validated with dns-01")
    return name


def _check_scripts(name: str) -> None:
    """Refuse a label that mixes writing systems (a homograph such as Cyrillic in Latin)."""
    for label in idna.decode(name.removeprefix("*.")).split("."):
        scripts = scripts_of(label)
        if not is_safe_mix(scripts):
            raise _Refused(
                "mixed-script",
                f"the label {label!r} mixes the {' and '.join(sorted(scripts))} scripts, as "
                "look-alike names do; set CERTKEEPER_ALLOW_MIXED_SCRIPT_NAMES=true to allow it",
            )


def _is_ip_literal(raw: str) -> bool:
    candidate = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        ipaddress.ip_address(candidate.removesuffix("."))
    except ValueError:
        return False
    return True


def _check_characters(text: str) -> None:
    for char in text:
        if (char.isascii() and char not in _ALLOWED_ASCII) or unicodedata.category(char) == "Cc":
            raise _Refused(
                "invalid-characters",
                f"the name contains {char!r}; only letters, digits and hyphens are allowed",
            )


def _mapped_labels(raw: str) -> list[str]:
    """UTS #46 map the name, drop one trailing dot and split it into labels."""
    _check_characters(raw)
    try:
        mapped = idna.uts46_remap(raw, std3_rules=False)
    except idna.IDNAError as exc:
        raise _idna_refusal(exc) from exc
    _check_characters(mapped)  # mapping can produce ASCII, e.g. a full-width underscore
    labels = mapped.removesuffix(".").split(".")
    if "" in labels:
        raise _Refused("empty-label", _EMPTY_DETAIL)
    return labels


def _is_wildcard(labels: Sequence[str]) -> bool:
    wildcard = labels[0] == "*"
    rest = labels[1:] if wildcard else labels
    if not rest or any("*" in label for label in rest):
        raise _Refused(
            "bad-wildcard",
            "a wildcard may only be the whole leftmost label, as in *.example.com",
        )
    return wildcard


def _a_labels(name: str) -> str:
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise _idna_refusal(exc) from exc


def _idna_refusal(exc: idna.IDNAError) -> _Refused:
    if exc.code in _LENGTH_CODES:
        return _Refused(
            "bad-length",
            f"a label is longer than 63 bytes or the name longer than {MAX_NAME_LENGTH}",
        )
    if exc.code in _EMPTY_CODES:
        return _Refused("empty-label", _EMPTY_DETAIL)
    return _Refused("invalid-idna", f"the name is not a valid IDNA 2008 name: {exc}")


def _check_suffix(base: str, wildcard: bool, allowed: Sequence[str]) -> None:
    """Refuse ``base`` unless it is below a public suffix or an allowed private suffix."""
    if any(base.endswith("." + suffix) for suffix in allowed):
        return
    public = _public_suffixes().publicsuffix(base, accept_unknown=False)
    if public is None:
        raise _Refused(
            "not-public",
            f"{base} is not under a public suffix, so no public CA can issue for it",
        )
    if public == base:
        what = "a wildcard cannot cover" if wildcard else "a certificate cannot be issued for"
        raise _Refused("public-suffix", f"{base} is a public suffix; {what} it")


def _too_many(accepted: dict[str, str]) -> list[dict[str, str]]:
    detail = f"a certificate holds at most {MAX_NAMES} names; {len(accepted)} were requested"
    excess = list(accepted.values())[MAX_NAMES:]
    return [{"name": raw, "reason": "too-many-names", "detail": detail} for raw in excess]


def _summary(problems: Sequence[dict[str, str]], total: int) -> str:
    listed = "; ".join(
        f"{problem['name']!r} ({problem['reason']})" for problem in problems[:_LISTED_IN_DETAIL]
    )
    if len(problems) > _LISTED_IN_DETAIL:
        listed += f"; and {len(problems) - _LISTED_IN_DETAIL} more"
    noun = "name" if total == 1 else "names"
    return f"{len(problems)} of {total} {noun} cannot be requested: {listed}"
