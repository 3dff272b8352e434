"""An ACME directory (RFC 8555 §7.1.1) checked before anything trusts it.

``acme`` accepts any JSON object as a directory and fails later with a KeyError; a list, a
string or ``null`` make it raise TypeError or AttributeError. Here a directory is a JSON
object whose resource URLs are https strings, with ``newNonce``, ``newAccount`` and
``newOrder`` present, and an object for ``meta`` if there is one.
"""

from __future__ import annotations

import json
from typing import Any

import josepy
from acme import messages
from acme.client import ClientNetwork

from shared.errors import AcmeError

REQUIRED_RESOURCES = ("newNonce", "newAccount", "newOrder")
OPTIONAL_RESOURCES = ("revokeCert", "keyChange", "newAuthz", "renewalInfo")


class AcmeDirectoryInvalid(AcmeError):
    """The directory URL did not answer an ACME directory. Retryable for a running job
    (a CA may serve a maintenance page for a while); for the API it is a 422."""

    slug = "acme-directory-invalid"
    title = "The URL does not serve a valid ACME directory"
    status = 422

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=True)


def fetch_directory(net: ClientNetwork, url: str) -> messages.Directory:
    """GET and check the directory (blocking: run it through ``acme_errors.translate``)."""
    # Any content type: parse_directory judges the body itself.
    return parse_directory(net.get(url, content_type="*/*").content)


def parse_directory(content: bytes) -> messages.Directory:
    """Parse and check a directory document; raises :class:`AcmeDirectoryInvalid`."""
    try:
        document = json.loads(content)
    except ValueError:
        raise AcmeDirectoryInvalid("the directory is not JSON") from None
    if not isinstance(document, dict):
        raise AcmeDirectoryInvalid(f"the directory is a JSON {_kind(document)}, not an object")
    for name in REQUIRED_RESOURCES:
        if name not in document:
            raise AcmeDirectoryInvalid(f"the directory has no {name}")
    for name in (*REQUIRED_RESOURCES, *OPTIONAL_RESOURCES):
        value = document.get(name)
        if name in document and not (isinstance(value, str) and value.startswith("https://")):
            raise AcmeDirectoryInvalid(f"the directory's {name} is not an https URL")
    if not isinstance(document.get("meta", {}), dict):
        raise AcmeDirectoryInvalid("the directory's meta is not an object")
    try:
        return messages.Directory.from_json(document)
    except (josepy.errors.DeserializationError, TypeError, ValueError, AttributeError):
        raise AcmeDirectoryInvalid("the directory's meta is not valid") from None


def _kind(document: Any) -> str:
    if document is None:
        return "null"
    return {list: "array", str: "string", bool: "boolean"}.get(type(document), "number")
