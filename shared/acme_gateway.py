"""Async facade over certbot's ``acme``: single requests in threads, errors translated.

A gateway serves one job at a time (it owns a ``requests`` session and a nonce pool that
must not be shared); ``AcmeClients`` keeps closed gateways for the next job of the same
account (see :mod:`shared.acme_pool`). Every operation is made of single POSTs, each retried
on its own on badNonce; acme's compound calls (``new_order`` fetches every authorization
too) are never used, since retrying one whole would repeat what had succeeded. Never call
acme's blocking poll loops: the issuer polls by rescheduling itself. All traffic goes
through :mod:`shared.acme_http`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar

import requests
from acme import challenges, crypto_util, messages
from acme import errors as acme_errors
from acme.client import ClientNetwork, ClientV2
from cryptography import x509
from josepy import b64
from josepy.interfaces import JSONDeSerializable
from josepy.json_util import field as jose_field
from josepy.jwa import JWASignature
from josepy.jwk import JWK
from requests.utils import parse_header_links

from shared.acme_directory import fetch_directory
from shared.acme_errors import (
    ACME_ERROR_PREFIX,
    ResponseRecorder,
    translate,
)
from shared.acme_http import GuardedTransport, IPNetwork
from shared.acme_key_change import key_change_request
from shared.acme_resources import (
    AuthorizationInfo,
    DownloadedChain,
    OrderInfo,
    account_jwk,
    authz_body,
    authz_info,
    created_order,
    location,
    order_body,
    order_info,
)
from shared.choices import ChallengeType
from shared.errors import AcmeError
from shared.version import VERSION

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

USER_AGENT = f"certkeeper/{VERSION} acme-python"


class AcmeGateway:
    """One ACME conversation: the account key, its session and nonces."""

    def __init__(
        self, net: AcmeNetwork, directory: messages.Directory, recorder: ResponseRecorder,
        opener: NetworkOpener,
    ) -> None:
        self._net = net
        self._client = ClientV2(directory, net)
        self._recorder = recorder
        self._open_network = opener
        # Called by close() instead of shutting down: the owner keeps it for reuse.
        self.release: Callable[[AcmeGateway], None] | None = None
        # False once the account key changed under this gateway: never reused then.
        self.reusable = True

    @classmethod
    async def connect(
        cls,
        directory: messages.Directory | str,
        key_pem: bytes,
        *,
        account_url: str | None,
        verify: str | bool = True,
        request_timeout: int = 15,
        allowed_networks: Sequence[IPNetwork] = (),
    ) -> AcmeGateway:
        """Open a gateway. ``directory`` is a URL (fetched) or a cached Directory.
        ``allowed_networks``: internal addresses the CA may live at (others are refused)."""
        jwk, alg = account_jwk(key_pem)
        account = None if account_url is None else messages.RegistrationResource(uri=account_url)
        recorder = ResponseRecorder()
        opener = functools.partial(
            _open_network, verify=verify, timeout=request_timeout,
            allowed_networks=tuple(allowed_networks), recorder=recorder,
        )
        net = opener(jwk, alg, account)
        if isinstance(directory, str):
            directory = await translate(recorder, fetch_directory, net, directory)
        return cls(net, directory, recorder, opener)

    @property
    def directory(self) -> messages.Directory:
        return self._client.directory

    @property
    def account_url(self) -> str | None:
        account = self._client.net.account
        return None if account is None else str(account.uri)

    def close(self) -> None:
        """The job is done with the gateway: given back to its owner, or shut down."""
        release, self.release = self.release, None
        if release is not None and self.reusable:
            release(self)
        else:
            self.shutdown()

    def shutdown(self) -> None:
        self._net.close()

    async def register(
        self,
        *,
        contact_email: str | None,
        terms_of_service_agreed: bool,
        eab_kid: str | None = None,
        eab_hmac_key: str | None = None,
    ) -> str:
        """Create the account; returns its URL."""
        eab = None
        if eab_kid and eab_hmac_key:
            jwk = self._require_key()
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=jwk.public_key(), kid=eab_kid,
                hmac_key=eab_hmac_key, directory=self._client.directory,
            )
        registration = messages.NewRegistration.from_data(
            email=contact_email,
            terms_of_service_agreed=terms_of_service_agreed,
            external_account_binding=eab,
        )
        url = await self._post_for(
            "newAccount", self.directory["newAccount"], registration, location
        )
        self._client.net.account = messages.RegistrationResource(uri=url)
        return url

    async def deactivate(self, account_url: str) -> None:
        """Deactivate the account at the CA (RFC 8555 7.3.6); it can never be used again."""
        await self._call("deactivateAccount", self._post, account_url,
                         messages.UpdateRegistration(status="deactivated"))

    async def change_key(self, account_url: str, new_key_pem: bytes) -> None:
        """Roll the account over to ``new_key_pem`` (RFC 8555 7.3.5): one POST to keyChange,
        signed by the current key, carrying a JWS the new key signed."""
        url = self.directory["keyChange"]
        self.reusable = False
        inner = key_change_request(
            account_url=account_url, old_key=self._require_key(), new_key_pem=new_key_pem,
            key_change_url=url,
        )
        await self._call("keyChange", self._post, url, inner)

    async def check_account(self, account_url: str) -> None:
        """A POST-as-GET of the account, signed by this gateway's key: succeeds only while
        the CA knows the account by this key (an AcmeError otherwise)."""
        await self._call("getAccount", self._post, account_url, None)

    @property
    def requires_external_account(self) -> bool:
        return bool(self._client.external_account_required())

    async def new_order(
        self, csr_pem: bytes, *, profile: str | None = None, replaces: str | None = None
    ) -> OrderInfo:
        """One newOrder POST for the CSR's names, then one POST-as-GET per authorization.
        ``profile``: an ACME profile (check it first with ``acme_ari.check_profile``);
        ``replaces``: the ARI identifier (``acme_ari.ari_certificate_id``) of the
        certificate this order renews. A 409 ``alreadyReplaced`` is a final AcmeError."""
        csr = x509.load_pem_x509_csr(csr_pem)
        names, _ips = crypto_util.get_identifiers_from_x509(csr.subject, csr.extensions)
        new = NewOrderReplacing(
            identifiers=[messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name)
                         for name in names],
            profile=profile, replaces=replaces,
        )
        url, body = await self._post_for(
            "newOrder", self.directory["newOrder"], new, created_order
        )
        info = order_info(url, body, self._recorder.retry_after)
        authorizations = [await self.fetch_authorization(a) for a in info.authorization_urls]
        return replace(info, authorizations=authorizations)

    @property
    def has_renewal_info(self) -> bool:
        """Whether the CA serves ARI (RFC 9773): only then does an order carry ``replaces``."""
        return renewal_info_base(self.directory) is not None

    async def revoke(self, cert_pem: bytes, reason: int) -> None:
        """Revoke, signed with the account key (RFC 8555 7.6). Already revoked: done."""
        revocation = messages.Revocation(
            certificate=x509.load_pem_x509_certificate(cert_pem), reason=reason
        )
        await _already_revoked_is_done(
            self._call("revokeCert", self._post, self.directory["revokeCert"], revocation)
        )

    async def revoke_with_certificate_key(
        self, cert_pem: bytes, key_pem: bytes, reason: int
    ) -> None:
        """Revoke, signed with the certificate's own key (its JWK in the JWS header), so
        the CA learns the key is compromised. Already revoked: done."""
        revocation = messages.Revocation(
            certificate=x509.load_pem_x509_certificate(cert_pem), reason=reason
        )
        jwk, alg = account_jwk(key_pem)
        net = self._open_network(jwk, alg, None)
        try:
            await _already_revoked_is_done(
                self._call("revokeCert", net.post, self.directory["revokeCert"], revocation,
                           new_nonce_url=self.directory["newNonce"])
            )
        finally:
            net.close()

    async def fetch_order(self, order_url: str) -> OrderInfo:
        body = await self._post_for("getOrder", order_url, None, order_body)
        return order_info(order_url, body, self._recorder.retry_after)

    async def fetch_authorization(self, authz_url: str) -> AuthorizationInfo:
        body = await self._post_for("getAuthorization", authz_url, None, authz_body)
        return authz_info(authz_url, body)

    async def answer(self, challenge_type: ChallengeType, challenge_url: str) -> None:
        reply: challenges.ChallengeResponse
        if challenge_type is ChallengeType.HTTP_01:
            reply = challenges.HTTP01Response()
        else:
            reply = challenges.DNS01Response()
        await self._call("answerChallenge", self._post, challenge_url, reply)

    async def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> OrderInfo:
        wrapped = messages.CertificateRequest(csr=x509.load_pem_x509_csr(csr_pem))
        body = await self._post_for("finalize", finalize_url, wrapped, order_body)
        return order_info(order_url, body, self._recorder.retry_after)

    async def download(self, certificate_url: str) -> DownloadedChain:
        response = await self._call("downloadCertificate", self._post, certificate_url, None)
        alternates = []
        for link in parse_header_links(response.headers.get("Link", "")):
            if link.get("rel") == "alternate" and link.get("url"):
                alt = await self._call("downloadCertificate", self._post, link["url"], None)
                alternates.append(alt.text)
        return DownloadedChain(chain_pem=response.text, alternates_pem=alternates)

    def key_authorization(self, token: str) -> str:
        chall = challenges.HTTP01(token=b64.b64decode(token))
        return str(chall.key_authorization(self._require_key()))

    def _require_key(self) -> JWK:
        key: JWK | None = self._client.net.key
        if key is None:
            raise RuntimeError("gateway has no account key")
        return key

    def _post(self, url: str, obj: JSONDeSerializable | None) -> requests.Response:
        """One POST (acme retries a badNonce once itself)."""
        response: requests.Response = self._client.net.post(
            url, obj, new_nonce_url=self._client.directory["newNonce"]
        )
        return response

    def _post_parsed(
        self, url: str, obj: JSONDeSerializable | None, parse: Callable[[requests.Response], R]
    ) -> R:
        return parse(self._post(url, obj))

    async def _post_for(
        self, action: str, url: str, obj: JSONDeSerializable | None,
        parse: Callable[[requests.Response], R],
    ) -> R:
        """One POST in a thread, its answer parsed there; retried alone on badNonce."""
        return await self._call(action, self._post_parsed, url, obj, parse)

    async def _call(
        self, action: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``action`` names the call in the metrics (``certkeeper_acme_client_*``)."""
        self._recorder.action = action
        try:
            return await translate(self._recorder, fn, *args, **kwargs)
        except asyncio.CancelledError:
            # The job was cancelled while a thread still sends on this gateway's session:
            # it must never be handed to another job.
            self.reusable = False
            raise


class NewOrderReplacing(messages.NewOrder):
    """newOrder with RFC 9773's ``replaces`` (certbot's ``acme`` has no such field)."""

    replaces: str | None = jose_field("replaces", omitempty=True)


class AcmeNetwork(ClientNetwork):
    """certbot's ``acme`` ``ClientNetwork``, with the same requests on the wire, three
    things done differently:

    - The nonce of an error answer is kept. acme keeps the ``Replay-Nonce`` of a successful
      answer only, so after any error, and on the retry of a refused nonce, it first asks
      ``newNonce`` for one. RFC 8555 (6.5) has the CA send a fresh nonce with every answer
      to a POST, a ``badNonce`` error precisely so the retry can use it. Pebble refuses 5 %
      of nonces by default; each refusal cost a HEAD round trip, 0.5-0.7 per certificate.
    - Requests are sent more cheaply, on :class:`GuardedTransport` (urllib3 itself) instead
      of acme's ``requests.Session``. acme's ``_send_request`` also formats every answer
      (its text, its headers joined) for a debug line whether or not debug logging is on.
    - The JWS is built directly (the same protected header, payload and signature, as
      compact JSON): acme builds it through josepy's generic objects, 114 microseconds of
      CPU per POST against 39.
    """

    def __init__(self, key: JWK, *, account: messages.RegistrationResource | None,
                 alg: JWASignature, timeout: int, transport: GuardedTransport,
                 recorder: ResponseRecorder) -> None:
        super().__init__(key, account=account, alg=alg, user_agent=USER_AGENT,
                         timeout=timeout)
        self._transport = transport
        self._recorder = recorder
        # What acme's Session would send besides its own headers (Accept-Encoding and the
        # like), with acme's User-Agent over them.
        self._headers = {**requests.utils.default_headers(), "User-Agent": self.user_agent}

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any
                      ) -> requests.Response:
        response = self._send(method, url, *args, **kwargs)
        if (method == "POST" and not response.ok
                and self.REPLAY_NONCE_HEADER in response.headers):
            with contextlib.suppress(acme_errors.BadNonce):  # unreadable: the next POST asks
                self._add_nonce(response)
        return response

    def _send(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
              data: str | bytes | None = None, timeout: float | None = None
              ) -> requests.Response:
        """Send as acme would: its headers, its timeout, and an answer without an
        ``Accept`` asked for read as UTF-8; every answer is seen by the recorder."""
        sent = {**self._headers, **(headers or {})}
        body = data.encode() if isinstance(data, str) else data
        response = self._transport.send(
            method, url, sent, body, self._default_timeout if timeout is None else timeout)
        if "Accept" not in (headers or {}):  # as acme: the Accept it asked for, not ours
            response.encoding = "utf-8"
        self._recorder(response)
        return response

    def close(self) -> None:
        self._transport.close()
        self.session.close()

    def _wrap_in_jws(self, obj: JSONDeSerializable, nonce: str | bytes, url: str) -> str:
        """RFC 8555 (6.2): ``kid`` once the account exists, else its ``jwk`` (newAccount).
        acme hands over the nonce decoded (bytes), though it types it as the header's text."""
        if self.key is None:
            raise acme_errors.Error("a ClientNetwork without a key cannot sign")
        sent_nonce = jose_b64(nonce) if isinstance(nonce, bytes) else nonce
        protected: dict[str, Any] = {"alg": self.alg.name, "nonce": sent_nonce, "url": url}
        if self.account is not None:
            protected["kid"] = self.account["uri"]
        else:
            protected["jwk"] = self.key.public_key().to_json()
        header = jose_b64(json.dumps(protected).encode())
        payload = jose_b64(obj.json_dumps().encode() if obj else b"")
        signature = self.alg.sign(self.key.key, f"{header}.{payload}".encode())
        return json.dumps({"protected": header, "payload": payload,
                           "signature": jose_b64(signature)})


def jose_b64(data: bytes) -> str:
    """base64url without padding (RFC 7515, 2)."""
    return b64.b64encode(data).decode("ascii")


NetworkOpener = Callable[[JWK, JWASignature, "messages.RegistrationResource | None"],
                         "AcmeNetwork"]


def _open_network(
    jwk: JWK,
    alg: JWASignature,
    account: messages.RegistrationResource | None,
    *,
    verify: str | bool,
    timeout: int,
    allowed_networks: Sequence[IPNetwork],
    recorder: ResponseRecorder,
) -> AcmeNetwork:
    """An AcmeNetwork on the guarded transport, its answers seen by ``recorder``."""
    return AcmeNetwork(jwk, account=account, alg=alg, timeout=timeout, recorder=recorder,
                       transport=GuardedTransport(allowed_networks, verify))


async def _already_revoked_is_done(call: Awaitable[object]) -> None:
    try:
        await call
    except AcmeError as exc:
        if exc.acme_type != ACME_ERROR_PREFIX + "alreadyRevoked":
            raise


def renewal_info_base(directory: messages.Directory) -> str | None:
    try:
        base: str = directory["renewalInfo"]
    except KeyError:
        return None
    return base.rstrip("/")
