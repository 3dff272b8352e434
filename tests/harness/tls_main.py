"""A TLS server that serves the certificate in CERT_FILE with KEY_FILE, loaded at start and
again on SIGHUP, like nginx or haproxy: the deployment tests' end server. It only completes
handshakes (the probe reads the served certificate).

Usage: python -m tests.harness.tls_main PORT CERT_FILE KEY_FILE
"""

from __future__ import annotations

import signal
import socket
import ssl
import sys
import threading
from types import FrameType


class Server:
    def __init__(self, cert: str, key: str) -> None:
        self.cert, self.key = cert, key
        self.context = self.load()

    def load(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def reload(self, _signum: int, _frame: FrameType | None) -> None:
        self.context = self.load()
        print("reloaded", flush=True)

    def serve(self, port: int) -> None:
        with socket.create_server(("127.0.0.1", port)) as listener:
            print(f"listening on {port}", flush=True)
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=self.handshake, args=(conn,), daemon=True).start()

    def handshake(self, conn: socket.socket) -> None:
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(5)
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = Server(cert, key)
    signal.signal(signal.SIGHUP, server.reload)
    server.serve(port)


if __name__ == "__main__":
    main()
