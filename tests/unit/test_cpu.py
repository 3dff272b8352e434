"""The CPU pool generates keys in other processes and brings their errors back."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.choices import KeyType
from shared.cpu import cpu_pool, default_workers, generate_key, run_cpu
from shared.errors import InvalidKeySpec


async def test_keys_come_from_the_pool_processes() -> None:
    with cpu_pool(1):
        assert await run_cpu(os.getpid) != os.getpid()
        rsa_pem = await generate_key(KeyType.RSA, 2048, None)
        ec_pem = await generate_key(KeyType.EC, None, "p-256")
        with pytest.raises(InvalidKeySpec):
            await generate_key(KeyType.RSA, 1024, None)
    rsa_key = serialization.load_pem_private_key(rsa_pem, password=None)
    assert isinstance(rsa_key, rsa.RSAPrivateKey) and rsa_key.key_size == 2048
    ec_key = serialization.load_pem_private_key(ec_pem, password=None)
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)


async def test_without_an_open_pool_the_work_runs_in_this_process() -> None:
    assert await run_cpu(os.getpid) == os.getpid()


def test_the_pool_leaves_a_core_free() -> None:
    assert 1 <= default_workers() <= max(1, (os.cpu_count() or 1) - 1)
