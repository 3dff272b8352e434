"""A scripted ACME client for the issuer's tests, in the manner of cert-manager's
``pkg/acme/client/fake.go``: the test says what each call answers (a value, an exception
to raise, or a function of the call's arguments), and reads back every call made.

It plays both roles the issuer needs: the connector (``open``) and the conversation.
"""

from __future__ import annotations

import inspect
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.acme_ari import RenewalWindow
from shared.acme_protocol import AcmeConnector, AcmeConversation
from shared.acme_resources import AuthorizationInfo, ChallengeInfo, DownloadedChain, OrderInfo
from shared.choices import ChallengeType

CA = "https://ca.test"
THUMBPRINT = "fake-account-thumbprint"


class UnscriptedCall(BaseException):
    """Not an ``Exception``: the issuer's error handling must not swallow it."""


@dataclass(frozen=True)
class Call:
    method: str
    args: tuple[Any, ...]


@dataclass
class ScriptedAcme:
    """Unscripted calls fail the test: nothing is answered by accident."""

    calls: list[Call] = field(default_factory=list)
    opened: int = 0
    closed: int = 0
    order_options: list[dict[str, str | None]] = field(default_factory=list)  # per new_order
    has_renewal_info: bool = False  # the CA's directory lists renewalInfo (RFC 9773)
    _next: dict[str, deque[Any]] = field(default_factory=lambda: defaultdict(deque))
    _always: dict[str, Any] = field(default_factory=dict)

    def script(self, method: str, *outcomes: Any) -> None:
        """The next calls of ``method`` answer ``outcomes`` in order, then the standing
        answer set by :meth:`always`."""
        self._next[method].extend(outcomes)

    def always(self, method: str, outcome: Any) -> None:
        self._always[method] = outcome

    def args_of(self, method: str) -> list[tuple[Any, ...]]:
        return [call.args for call in self.calls if call.method == method]

    def count(self, method: str) -> int:
        return len(self.args_of(method))

    def _outcome(self, method: str, args: tuple[Any, ...]) -> Any:
        self.calls.append(Call(method, args))
        if self._next[method]:
            outcome = self._next[method].popleft()
        elif method in self._always:
            outcome = self._always[method]
        else:
            raise UnscriptedCall(f"unscripted ACME call {method}{args}")
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome(*args) if callable(outcome) else outcome

    async def _call(self, method: str, *args: Any) -> Any:
        result = self._outcome(method, args)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, BaseException):
            raise result
        return result

    async def open(self, directory_url: str, key_pem: bytes, account_url: str | None
                   ) -> ScriptedAcme:
        """Opening is not scripted unless a test scripts ``open`` (to run a hook at the
        start of a job's step)."""
        self.opened += 1
        if self._next["open"] or "open" in self._always:
            await self._call("open", directory_url)
        return self

    async def renewal_info(self, directory_url: str, chain_pem: str) -> RenewalWindow | None:
        """As ``AcmeClients``: None from a CA without ARI, else the scripted window."""
        if not self.has_renewal_info:
            return None
        result: RenewalWindow | None = await self._call("renewal_info", chain_pem)
        return result

    async def new_order(
        self, csr_pem: bytes, *, profile: str | None = None, replaces: str | None = None
    ) -> OrderInfo:
        self.order_options.append({"profile": profile, "replaces": replaces})
        result: OrderInfo = await self._call("new_order", csr_pem)
        return result

    async def fetch_order(self, order_url: str) -> OrderInfo:
        result: OrderInfo = await self._call("fetch_order", order_url)
        return result

    async def fetch_authorization(self, authz_url: str) -> AuthorizationInfo:
        result: AuthorizationInfo = await self._call("fetch_authorization", authz_url)
        return result

    async def answer(self, challenge_type: ChallengeType, challenge_url: str) -> None:
        await self._call("answer", challenge_type, challenge_url)

    async def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> OrderInfo:
        result: OrderInfo = await self._call("finalize", order_url, finalize_url, csr_pem)
        return result

    async def download(self, certificate_url: str) -> DownloadedChain:
        result: DownloadedChain = await self._call("download", certificate_url)
        return result

    def key_authorization(self, token: str) -> str:
        if self._next["key_authorization"] or "key_authorization" in self._always:
            self._outcome("key_authorization", (token,))
        return f"{token}.{THUMBPRINT}"

    def close(self) -> None:
        self.closed += 1


_conversation: type[AcmeConversation] = ScriptedAcme
_connector: type[AcmeConnector] = ScriptedAcme


def authz(
    identifier: str,
    *,
    order: int = 1,
    status: str = "pending",
    challenge_type: str = "http-01",
    challenge_status: str = "pending",
    error: dict[str, Any] | None = None,
    token: str | None = None,
) -> AuthorizationInfo:
    base = f"{CA}/authz/{order}/{identifier}"
    challenge = ChallengeInfo(
        type=challenge_type, url=f"{base}/{challenge_type}",
        token=token or f"token-{order}-{identifier}", status=challenge_status,
    )
    return AuthorizationInfo(
        url=base, identifier=identifier, wildcard=False, status=status,
        challenges={challenge_type: challenge}, error=error,
    )


def order(
    status: str,
    authorizations: list[AuthorizationInfo],
    *,
    number: int = 1,
    error: dict[str, Any] | None = None,
    with_authorizations: bool = True,
) -> OrderInfo:
    """An order as ``new_order`` answers it (with its authorizations) or, with
    ``with_authorizations=False``, as ``fetch_order`` does."""
    url = f"{CA}/order/{number}"
    return OrderInfo(
        url=url, status=status, finalize_url=f"{url}/finalize",
        certificate_url=f"{CA}/cert/{number}" if status == "valid" else None,
        authorization_urls=[a.url for a in authorizations], error=error,
        authorizations=authorizations if with_authorizations else [],
    )


class ScriptedCA:
    """Signs CSRs so a download hands back a real chain for the request's key."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Scripted Test CA")])

    def sign(self, csr_pem: bytes) -> DownloadedChain:
        csr = x509.load_pem_x509_csr(csr_pem)
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        now = datetime.now(UTC)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(csr.subject).issuer_name(self.name)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=90))
            .add_extension(sans, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return DownloadedChain(leaf.public_bytes(serialization.Encoding.PEM).decode(), [])


def issuing_ca(fake: ScriptedAcme, names: list[str], number: int = 1) -> ScriptedCA:
    """Standing answers for a CA that validates everything: answers succeed, the order is
    ready, finalize makes it valid, download signs the CSR that finalize was given."""
    ca = ScriptedCA()
    authorizations = [authz(n, order=number, status="valid") for n in names]
    fake.always("answer", None)
    fake.always("fetch_order", order("ready", authorizations, number=number,
                                     with_authorizations=False))
    fake.always("finalize", lambda url, _f, _csr: order(
        "valid", authorizations, number=number, with_authorizations=False))
    fake.always("download", lambda _url: ca.sign(fake.args_of("finalize")[-1][2]))
    return ca

