"""ACME account key rollover (RFC 8555 §7.3.5), safe against a crash at any point.

The new key is sealed into the row's ``pending_key_sealed`` and committed before the CA is
asked, so the CA never holds a key Certkeeper could lose. Then, with no transaction open,
the CA is asked to switch; then the pending key becomes the key in one short transaction.
An attempt that died after the CA switched leaves the pending key behind: the next attempt
sends the same pending key, and when the CA refuses the old one it checks whether the CA
already knows the account by the pending key, and if so finishes the swap. Two attempts
at once use the same pending key (it is set only where none is), so they converge too.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.choices import KeyType
from shared.cpu import generate_key
from shared.crypto import EC_CURVES, RSA_SIZES
from shared.domain import audit
from shared.domain.accounts import get_account
from shared.domain.tokens import Principal
from shared.errors import AcmeError, Conflict, InvalidKeySpec
from shared.models import AcmeAccount
from shared.runtime import Runtime
from shared.states import AccountStatus

PENDING = "pending_key_sealed"


@dataclass(frozen=True, slots=True)
class AccountKeySpec:
    key_type: KeyType
    key_size: int | None = None  # RSA
    curve: str | None = None  # EC


def key_spec_of(key_pem: bytes) -> AccountKeySpec:
    """The type and size or curve of an existing key."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        return AccountKeySpec(KeyType.RSA, key_size=key.key_size)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        names = {type(curve): name for name, curve in EC_CURVES.items()}
        return AccountKeySpec(KeyType.EC, curve=names[type(key.curve)])
    raise TypeError("unsupported account key type")


def new_key_spec(
    old: AccountKeySpec, key_type: KeyType | None, key_size: int | None, curve: str | None
) -> AccountKeySpec:
    """What the new key will be: as asked, or else the old key's type, size and curve."""
    if key_type is None:
        if key_size is not None or curve is not None:
            raise InvalidKeySpec("key_size and curve need a key_type")
        return old
    if key_type is KeyType.RSA:
        if curve is not None:
            raise InvalidKeySpec("curve applies to EC keys only")
        size = key_size or (old.key_size if old.key_type is KeyType.RSA else None) or 2048
        if size not in RSA_SIZES:
            raise InvalidKeySpec(f"RSA key_size must be one of {', '.join(map(str, RSA_SIZES))}")
        return AccountKeySpec(KeyType.RSA, key_size=size)
    if key_size is not None:
        raise InvalidKeySpec("key_size applies to RSA keys only; choose an EC curve")
    chosen = curve or (old.curve if old.key_type is KeyType.EC else None) or "p-256"
    if chosen not in EC_CURVES:
        raise InvalidKeySpec(f"EC curve must be one of {', '.join(EC_CURVES)}")
    return AccountKeySpec(KeyType.EC, curve=chosen)


async def roll_over_key(
    session: AsyncSession, runtime: Runtime, account_id: UUID, actor: Principal, *,
    key_type: KeyType | None = None, key_size: int | None = None, curve: str | None = None,
) -> AcmeAccount:
    """Give the account a new key at the CA and here. An unfinished earlier rollover is
    finished first, with the key it had made (the requested spec then applies next time)."""
    account = await get_account(session, account_id)
    if account.status is not AccountStatus.VALID:
        raise Conflict(f"the account is {account.status}; only a valid one changes its key")
    old_pem = runtime.keyring.open(account.key_sealed, account.seal_context)
    spec = new_key_spec(key_spec_of(old_pem), key_type, key_size, curve)
    pending_sealed, new_pem = await _pending_key(session, runtime, account, spec)
    await session.commit()  # no transaction stays open while the CA is called
    await _switch_at_ca(runtime, account, old_pem, new_pem)
    resealed = runtime.keyring.seal(new_pem, account.seal_context)
    result = await session.execute(
        update(AcmeAccount)
        .where(AcmeAccount.id == account.id, AcmeAccount.pending_key_sealed == pending_sealed)
        .values(key_sealed=resealed, pending_key_sealed=None)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0):
        new = key_spec_of(new_pem)
        audit.record(session, actor, "acme_account.key_rolled_over", "acme_account", account.id,
                     key_type=str(new.key_type), key_size=new.key_size, curve=new.curve)
    await session.commit()  # nothing changed: a concurrent attempt finished the same swap
    await session.refresh(account)
    return account


async def _pending_key(
    session: AsyncSession, runtime: Runtime, account: AcmeAccount, spec: AccountKeySpec
) -> tuple[bytes, bytes]:
    """The pending key, sealed and open: the one an unfinished rollover left, or a new one,
    set only where none is (so concurrent attempts agree on one key)."""
    context = account.sealing_context(account.id, PENDING)
    if account.pending_key_sealed is None:
        fresh = await generate_key(spec.key_type, spec.key_size, spec.curve)
        await session.execute(
            update(AcmeAccount)
            .where(AcmeAccount.id == account.id, AcmeAccount.pending_key_sealed.is_(None))
            .values(pending_key_sealed=runtime.keyring.seal(fresh, context))
            .execution_options(synchronize_session=False)
        )
        await session.refresh(account)
    if account.pending_key_sealed is None:  # a concurrent attempt finished meanwhile
        raise Conflict("another key rollover of this account just finished; try again")
    sealed = account.pending_key_sealed
    return sealed, runtime.keyring.open(sealed, context)


async def _switch_at_ca(
    runtime: Runtime, account: AcmeAccount, old_pem: bytes, new_pem: bytes
) -> None:
    """Ask the CA to switch; when it refuses, it may have switched already (an earlier
    attempt's answer was lost): then the account answers to the new key."""
    acme = await runtime.acme.open(account.directory_url, old_pem, account.account_url)
    try:
        await acme.change_key(account.account_url, new_pem)
        return
    except AcmeError as refused:
        if refused.retryable:
            raise
        if not await _answers_to(runtime, account, new_pem):
            raise
    finally:
        acme.close()


async def _answers_to(runtime: Runtime, account: AcmeAccount, key_pem: bytes) -> bool:
    probe = await runtime.acme.open(account.directory_url, key_pem, account.account_url)
    try:
        await probe.check_account(account.account_url)
    except AcmeError:
        return False
    finally:
        probe.close()
    return True
