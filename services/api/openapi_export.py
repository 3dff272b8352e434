"""The OpenAPI document as committed in ``docs/openapi.json`` (``make openapi`` writes it;
a test fails when the live app has drifted from it)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from services.api.app import create_app
from services.api.deps import AppResources


@asynccontextmanager
async def _schema_only() -> AsyncIterator[AppResources]:
    raise RuntimeError("the OpenAPI document needs no resources")
    yield  # pragma: no cover


def openapi_document() -> dict[str, Any]:
    return create_app(_schema_only).openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m services.api.openapi_export PATH")
    Path(args[0]).write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
