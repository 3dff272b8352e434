"""What the CA's answers become: plain, frozen values the issuer and its fakes use, and
the parsers that make them from ``acme``'s messages (no network here)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import requests
from acme import challenges, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy import b64
from josepy.jwa import ES256, ES384, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

from shared.acme_errors import AcmeResponseInvalid, problem_dict


@dataclass(frozen=True, slots=True)
class ChallengeInfo:
    type: str
    url: str
    token: str
    status: str


@dataclass(frozen=True, slots=True)
class AuthorizationInfo:
    url: str
    identifier: str
    wildcard: bool
    status: str
    challenges: dict[str, ChallengeInfo]
    error: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class OrderInfo:
    url: str
    status: str
    finalize_url: str
    certificate_url: str | None
    authorization_urls: list[str]
    error: dict[str, Any] | None
    retry_after: float | None = None
    authorizations: list[AuthorizationInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DownloadedChain:
    chain_pem: str
    alternates_pem: list[str]


def location(response: requests.Response) -> str:
    location = response.headers.get("Location")
    if not location:
        raise AcmeResponseInvalid("the ACME server sent no Location for the new resource")
    return location


def created_order(response: requests.Response) -> tuple[str, messages.Order]:
    return location(response), order_body(response)


def order_body(response: requests.Response) -> messages.Order:
    order: messages.Order = messages.Order.from_json(response.json())
    return order


def authz_body(response: requests.Response) -> messages.Authorization:
    authz: messages.Authorization = messages.Authorization.from_json(response.json())
    return authz


def dns01_txt_value(key_authorization: str) -> str:
    digest = hashlib.sha256(key_authorization.encode()).digest()
    return b64.b64encode(digest).decode()


def order_info(url: str, body: messages.Order, retry_after: float | None) -> OrderInfo:
    return OrderInfo(
        url=url,
        status=str(body.status.name) if body.status else "pending",
        finalize_url=body.finalize,
        certificate_url=body.certificate,
        authorization_urls=list(body.authorizations or []),
        error=problem_dict(body.error),
        retry_after=retry_after,
    )


def authz_info(url: str, body: messages.Authorization) -> AuthorizationInfo:
    found: dict[str, ChallengeInfo] = {}
    for challb in body.challenges or []:
        if isinstance(challb.chall, challenges.HTTP01 | challenges.DNS01):
            found[challb.chall.typ] = ChallengeInfo(
                type=challb.chall.typ,
                url=challb.uri,
                token=challb.chall.encode("token"),
                status=str(challb.status.name),
            )
    error = next((problem_dict(c.error) for c in body.challenges or [] if c.error), None)
    return AuthorizationInfo(
        url=url,
        identifier=body.identifier.value,
        wildcard=bool(body.wildcard),
        status=str(body.status.name) if body.status else "pending",
        challenges=found,
        error=error,
    )


def account_jwk(key_pem: bytes) -> tuple[JWK, JWASignature]:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: ES256, 384: ES384}[key.curve.key_size]
        return JWKEC(key=key), alg
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key), RS256
    raise TypeError("unsupported account key type")
