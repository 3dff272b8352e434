"""Schemathesis hooks of the API fuzz run, loaded by its command line (``SCHEMATHESIS_HOOKS``).

- ``problem_document``: every 4xx answer is an RFC 9457 problem with ``type``, ``title``,
  ``status`` (the response's own) and ``detail``.
- A generated ``directory_url`` is sent to the test's Pebble (host and port replaced, the
  generated path kept): the fuzzer may register accounts and probe the CA, never the Internet.
- A DNS provider's endpoints (given or defaulted to a cloud) point at a closed loopback port,
  so a provider the fuzzer creates can never reach a real DNS service.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import schemathesis

CA_NETLOC_VARIABLE = "CERTKEEPER_FUZZ_CA_NETLOC"
NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens there
# Per DNS provider kind, the config fields that name the service it talks to.
PROVIDER_ENDPOINTS = {
    "rfc2136": {"server": NOWHERE},
    "route53": {"endpoint_url": f"https://{NOWHERE}"},
    "cloudflare": {"api_url": f"https://{NOWHERE}"},
    "azure": {"authority_url": f"https://{NOWHERE}", "management_url": f"https://{NOWHERE}"},
}
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_FIELDS = ("type", "title", "status", "detail")


@schemathesis.check
def problem_document(
    _ctx: schemathesis.CheckContext, response: schemathesis.Response, _case: schemathesis.Case
) -> bool | None:
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    if not content_type.startswith(PROBLEM_MEDIA_TYPE):
        raise AssertionError(f"a {response.status_code} answered {content_type!r}, not a problem")
    try:
        body = json.loads(response.content or b"")
    except ValueError:
        raise AssertionError("the problem document is not JSON") from None
    missing = [name for name in PROBLEM_FIELDS if not isinstance(body, dict) or name not in body]
    if missing:
        raise AssertionError(f"the problem document lacks {', '.join(missing)}")
    if body["status"] != response.status_code:
        raise AssertionError(f"the problem says status {body['status']!r}, the response "
                             f"{response.status_code}")
    return None


@schemathesis.hook
def before_call(
    _context: schemathesis.HookContext, case: schemathesis.Case, _kwargs: dict[str, Any]
) -> None:
    netloc = os.environ.get(CA_NETLOC_VARIABLE)
    body = case.body
    if not isinstance(body, dict):
        return
    if netloc and isinstance(body.get("directory_url"), str):
        body["directory_url"] = _at(body["directory_url"], netloc)
    endpoints = PROVIDER_ENDPOINTS.get(str(body.get("kind")))
    if endpoints is not None and isinstance(body.get("config"), dict):
        body["config"].update(endpoints)


def _at(url: str, netloc: str) -> str:
    """``url`` with its host and port replaced; unchanged when it is no https URL at all."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() != "https" or not parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=netloc))
