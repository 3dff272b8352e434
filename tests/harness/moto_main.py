"""``python -m tests.harness.moto_main -H HOST -p PORT``: moto's server with one fix.

With IAM authentication on, moto re-computes each request's SigV4 signature to check it, but
for a GET (every Route 53 read) it signs the parsed query string as if it
were the body, so every correctly signed GET fails with SignatureDoesNotMatch. This launcher
makes moto sign the empty body a GET has, as AWS does, then runs moto's server.
"""

from __future__ import annotations

from moto.iam.access_control import IAMRequestBase
from moto.server import main

_original = IAMRequestBase._create_aws_request


def _signed_as_sent(self: IAMRequestBase) -> object:
    if self._method in ("GET", "HEAD", "DELETE") and not self._body:
        self._data = {}
    return _original(self)


IAMRequestBase._create_aws_request = _signed_as_sent  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
