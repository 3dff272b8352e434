"""The ACME transport refuses internal addresses before connecting, whatever the name.

With ``CERTKEEPER_ACME_ALLOWED_NETWORKS`` empty (the default), a CA on loopback is refused
with a clear problem and the listener there is never even offered a connection.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from shared.acme_clients import AcmeClients
from shared.acme_http import AcmeAddressRefused
from shared.choices import KeyType
from shared.crypto import generate_private_key


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def _offered_connection(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_directory_is_refused_without_connecting(
    listener: socket.socket, host: str
) -> None:
    port = listener.getsockname()[1]
    clients = AcmeClients(ca_bundle=None, request_timeout=5)
    key_pem = generate_private_key(KeyType.EC, None, "p-256")
    with pytest.raises(AcmeAddressRefused, match="CERTKEEPER_ACME_ALLOWED_NETWORKS") as refused:
        await clients.open(f"https://{host}:{port}/dir", key_pem, None)
    assert "loopback" in refused.value.detail
    assert refused.value.to_dict()["status"] == 422
    assert not _offered_connection(listener)
