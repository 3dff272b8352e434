"""``CERTKEEPER_METRICS_PORT``: a worker process (issuer, renewer, the public responder)
serves its own ``/metrics`` there, from a thread of prometheus_client, so a scrape is
answered even while the event loop is busy. The api serves ``/metrics`` on its own port."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from prometheus_client import start_http_server

from shared.config import Settings
from shared.errors import ConfigError

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def metrics_listener(settings: Settings) -> Iterator[None]:
    """Serve /metrics on the metrics port while the block runs (nothing when it is unset)."""
    port = settings.metrics_port
    if port is None:
        yield
        return
    try:
        server, thread = start_http_server(port, addr=settings.http_host)
    except OSError as exc:
        raise ConfigError(f"CERTKEEPER_METRICS_PORT: cannot listen on {port}: {exc}") from None
    logger.info("metrics.listening", extra={"port": port})
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
