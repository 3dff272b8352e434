"""ACME account key rollover (RFC 8555 §7.3.5), which certbot's ``acme`` does not offer.

The request to ``keyChange`` is a JWS inside a JWS: the inner one is signed by the new key,
carries it as ``jwk`` (no ``kid``, no ``nonce``) and the keyChange URL as ``url``, and says
``{"account": <account URL>, "oldKey": <old public JWK>}``; the outer one is an ordinary
request signed by the old key with the account's ``kid``, whose payload is the inner JWS.
"""

from __future__ import annotations

import json

from acme import jws
from josepy.jwk import JWK

from shared.acme_resources import account_jwk


def key_change_request(
    *, account_url: str, old_key: JWK, new_key_pem: bytes, key_change_url: str
) -> jws.JWS:
    """The inner JWS: the payload the old key then signs as an ordinary POST."""
    new_key, new_alg = account_jwk(new_key_pem)
    payload = {"account": account_url, "oldKey": old_key.public_key().to_json()}
    signed: jws.JWS = jws.JWS.sign(
        json.dumps(payload).encode(), key=new_key, alg=new_alg, nonce=None,
        url=key_change_url,
    )
    return signed
