"""A fake of Cloudflare's v4 API for DNS records, after its documented contract: the
``{"success", "errors", "messages", "result", "result_info"}`` envelope, Bearer tokens (an
unknown token: 403 code 9109; a token without the zone: 403 code 10000; a malformed header:
400 code 6003; a global API key, which Cloudflare prefers to a token: 403 code 9103),
``page``/``per_page`` pagination, ``name`` / ``name.exact`` filters, 404 code 81044 for a
record that does not exist, 400 code 81058 for an identical record, and 404 code 7003 for a
zone id that does not route. Every call is recorded; ``faults`` answer the next matching
requests with a chosen response (429 with Retry-After, 500, a body that is not JSON).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_PER_PAGE = 5000


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Fault:
    method: str
    path_part: str
    response: Response
    times: int = 1


def _envelope(result: Any, status: int = 200, info: dict[str, int] | None = None,
              errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body = {"success": not errors, "errors": errors or [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return JSONResponse(body, status_code=status)


def _error(status: int, code: int, message: str) -> JSONResponse:
    return _envelope(None, status, errors=[{"code": code, "message": message}])


@dataclass
class CloudflareFake:
    tokens: dict[str, set[str] | None] = field(default_factory=dict)  # token: zone ids (None: all)
    zones: dict[str, str] = field(default_factory=dict)  # id: name
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _serial: int = 0

    def _id(self) -> str:
        """Ids that sort in creation order, so a test knows which page a record is on."""
        self._serial += 1
        return f"{self._serial:08x}{secrets.token_hex(12)}"

    def add_zone(self, name: str) -> str:
        zone_id = self._id()
        self.zones[zone_id] = name
        return zone_id

    def add_record(self, zone_id: str, name: str, content: str) -> str:
        record_id = self._id()
        self.records[record_id] = {"id": record_id, "zone_id": zone_id, "type": "TXT",
                                   "name": name, "content": content, "ttl": 1}
        return record_id

    def txt_values(self, name: str) -> set[str]:
        return {r["content"].strip('"') for r in self.records.values() if r["name"] == name}

    def calls_to(self, path_part: str) -> list[Call]:
        return [call for call in self.calls if path_part in call.path]

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/zones", self._zones, methods=["GET"]),
            Route("/zones/{zone_id}/dns_records", self._records, methods=["GET", "POST"]),
            Route("/zones/{zone_id}/dns_records/{record_id}", self._delete, methods=["DELETE"]),
        ])  # fmt: skip

    async def _before(self, request: Request, zone_id: str | None = None) -> Response | None:
        body = json.loads(await request.body() or b"null")
        self.calls.append(Call(request.method, request.url.path, dict(request.query_params), body))
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and (
                fault.path_part in request.url.path
            ):
                fault.times -= 1
                return fault.response
        if "x-auth-key" in request.headers or "x-auth-email" in request.headers:
            return _error(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")  # global key auth
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return _envelope(None, 400, errors=[{
                "code": 6003, "message": "Invalid request headers",
                "error_chain": [{"code": 6111,
                                 "message": "Invalid format for Authorization header"}],
            }])  # fmt: skip
        if token not in self.tokens:
            return _error(403, 9109, "Invalid access token")
        allowed = self.tokens[token]
        if zone_id is not None and zone_id not in self.zones:
            return _error(404, 7003, f"Could not route to /zones/{zone_id}, perhaps your object "
                                     "identifier is invalid?")
        if zone_id is not None and allowed is not None and zone_id not in allowed:
            return _error(403, 10000, "Authentication error")
        return None

    async def _zones(self, request: Request) -> Response:
        if (refused := await self._before(request)) is not None:
            return refused
        token = request.headers["authorization"].partition(" ")[2]
        allowed = self.tokens[token]
        name = request.query_params.get("name")
        found = [{"id": zone_id, "name": zone_name, "status": "active"}
                 for zone_id, zone_name in sorted(self.zones.items())
                 if (name is None or zone_name == name) and (allowed is None or zone_id in allowed)]
        return self._page(request, found)

    async def _records(self, request: Request) -> Response:
        zone_id = request.path_params["zone_id"]
        if (refused := await self._before(request, zone_id)) is not None:
            return refused
        if request.method == "POST":
            return self._create(zone_id, self.calls[-1].body)
        query = request.query_params
        name = query.get("name.exact") or query.get("name")
        found = [r for r in sorted(self.records.values(), key=lambda r: r["id"])
                 if r["zone_id"] == zone_id and (name is None or r["name"] == name)
                 and query.get("type") in (None, r["type"])]
        return self._page(request, found)

    def _create(self, zone_id: str, body: dict[str, Any]) -> Response:
        for record in self.records.values():
            if (record["zone_id"], record["name"], record["content"]) == (
                zone_id, body["name"], body["content"]
            ):
                return _error(400, 81058, "An identical record already exists.")
        record_id = self.add_record(zone_id, body["name"], body["content"])
        self.records[record_id]["ttl"] = body.get("ttl", 1)
        return _envelope(self.records[record_id])

    async def _delete(self, request: Request) -> Response:
        zone_id, record_id = request.path_params["zone_id"], request.path_params["record_id"]
        if (refused := await self._before(request, zone_id)) is not None:
            return refused
        record = self.records.get(record_id)
        if record is None or record["zone_id"] != zone_id:
            return _error(404, 81044, "Record does not exist.")
        del self.records[record_id]
        return _envelope({"id": record_id})

    @staticmethod
    def _page(request: Request, items: list[dict[str, Any]]) -> Response:
        page = int(request.query_params.get("page", "1"))
        per_page = min(int(request.query_params.get("per_page", "100")), MAX_PER_PAGE)
        chunk = items[(page - 1) * per_page: page * per_page]
        total_pages = max(1, -(-len(items) // per_page))
        return _envelope(chunk, info={"page": page, "per_page": per_page, "count": len(chunk),
                                      "total_count": len(items), "total_pages": total_pages})
