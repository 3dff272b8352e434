"""A fake of the Azure AD token endpoint and the Azure DNS record-set REST API (api-version
2018-05-01), after their documented contracts: client-credentials tokens (a wrong secret:
401 ``invalid_client``), Bearer checks (401 ``InvalidAuthenticationToken``), role checks (403
``AuthorizationFailed``), zones listed page by page with ``nextLink``, record sets with
etags honouring ``If-Match`` / ``If-None-Match`` (412 ``PreconditionFailed``), 404
``NotFound`` for an absent set and ``ParentResourceNotFound`` for an absent zone, DELETE 200
or 204 when absent. Every call is recorded; ``faults`` answer chosen requests.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_VERSION = "2018-05-01"
_ZONES = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    condition: str | None  # "If-Match: <etag>" or "If-None-Match: *"
    body: Any


@dataclass
class Fault:
    method: str
    path_part: str
    response: Response
    times: int = 1


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@dataclass
class AzureFake:
    tenant: str
    secrets_by_client: dict[str, str]  # client id: secret
    contributors: set[str]  # client ids holding DNS Zone Contributor
    zones: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # zone: sets
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # token: client id
    token_requests: int = 0
    zones_page_size: int = 1

    def txt_values(self, zone: str, relative: str) -> set[str]:
        record_set = self.zones.get(zone, {}).get(relative)
        if record_set is None:
            return set()
        return {"".join(r["value"]) for r in record_set["properties"]["TXTRecords"]}

    def calls_to(self, path_part: str) -> list[Call]:
        return [call for call in self.calls if path_part in call.path]

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route(_ZONES, self._list_zones, methods=["GET"]),
            Route(_ZONES + "/{zone}/TXT/{name}", self._record_set,
                  methods=["GET", "PUT", "DELETE"]),
        ])  # fmt: skip

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        self.token_requests += 1
        self.calls.append(Call("POST", request.url.path, None, form))
        if (fault := self._fault(request)) is not None:
            return fault
        if request.path_params["tenant"] != self.tenant:
            return JSONResponse({"error": "invalid_request", "error_description":
                                 "AADSTS90002: Tenant not found."}, status_code=400)
        client = str(form.get("client_id"))
        if form.get("grant_type") != "client_credentials" or not str(
            form.get("scope", "")
        ).endswith("/.default"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if self.secrets_by_client.get(client) != form.get("client_secret"):
            return JSONResponse({"error": "invalid_client", "error_description":
                                 "AADSTS7000215: Invalid client secret provided."},
                                status_code=401)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = client
        return JSONResponse({"token_type": "Bearer", "expires_in": 3599, "access_token": token})

    def _fault(self, request: Request) -> Response | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and (
                fault.path_part in request.url.path
            ):
                fault.times -= 1
                return fault.response
        return None

    async def _before(self, request: Request) -> Response | None:
        body = json.loads(await request.body() or b"null")
        condition = next((f"{h}: {request.headers[h]}" for h in ("If-Match", "If-None-Match")
                          if h in request.headers), None)
        self.calls.append(Call(request.method, request.url.path, condition, body))
        if (fault := self._fault(request)) is not None:
            return fault
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            return _error(401, "InvalidAuthenticationToken",
                          "The access token is invalid.")
        if self.tokens[token] not in self.contributors:
            return _error(403, "AuthorizationFailed", f"The client '{self.tokens[token]}' does "
                          "not have authorization to perform action 'Microsoft.Network/dnszones/"
                          "TXT/write'.")
        if request.query_params.get("api-version") != API_VERSION:
            return _error(400, "InvalidApiVersionParameter", "api-version missing")
        return None

    async def _list_zones(self, request: Request) -> Response:
        if (refused := await self._before(request)) is not None:
            return refused
        start = int(request.query_params.get("skip", "0"))
        names = sorted(self.zones)[start:start + self.zones_page_size]
        body: dict[str, Any] = {"value": [{"name": n, "type": "Microsoft.Network/dnszones"}
                                          for n in names]}
        if start + self.zones_page_size < len(self.zones):
            body["nextLink"] = (f"{str(request.url).split('?')[0]}?api-version={API_VERSION}"
                                f"&skip={start + self.zones_page_size}")
        return JSONResponse(body)

    async def _record_set(self, request: Request) -> Response:
        if (refused := await self._before(request)) is not None:
            return refused
        zone, name = request.path_params["zone"], request.path_params["name"]
        if zone not in self.zones:
            return _error(404, "ParentResourceNotFound", "Can not perform requested operation "
                          f"on nested resource. Parent resource '{zone}' not found.")
        current = self.zones[zone].get(name)
        if (refused := self._precondition(request, current)) is not None:
            return refused
        if request.method == "GET":
            if current is None:
                return _error(404, "NotFound", f"The resource record '{name}' does not exist.")
            return JSONResponse(current)
        if request.method == "DELETE":
            return Response(status_code=200 if self.zones[zone].pop(name, None) else 204)
        properties = self.calls[-1].body["properties"]
        record_set = {"name": name, "type": "Microsoft.Network/dnszones/TXT",
                      "etag": secrets.token_hex(8),
                      "properties": {**properties, "fqdn": f"{name}.{zone}.",
                                     "provisioningState": "Succeeded"}}
        self.zones[zone][name] = record_set
        return JSONResponse(record_set, status_code=200 if current else 201)

    @staticmethod
    def _precondition(request: Request, current: dict[str, Any] | None) -> Response | None:
        match = request.headers.get("If-Match")
        if match is not None and (current is None or current["etag"] != match):
            return _error(412, "PreconditionFailed", f"The condition '{match}' in the If-Match "
                          "header was not satisfied.")
        if request.headers.get("If-None-Match") == "*" and current is not None:
            return _error(412, "PreconditionFailed", "The record set already exists.")
        return None
