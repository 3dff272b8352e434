"""A throwaway moto server (Route 53 and IAM) on a free 127.0.0.1 port, in its own process.

moto accepts any credentials unless its IAM authentication is on, so the harness bootstraps
IAM users first and then turns authentication on (``/moto-api/reset-auth`` with 0): from then
on every Route 53 call must be signed with a key moto issued, and is allowed only by that
user's policy. ``dns_user`` holds exactly the policy the README documents (with ``*`` as the
resource: moto checks actions, not hosted-zone ARNs). moto's request recorder is on, so tests
read back the exact ``ChangeResourceRecordSets`` batches a provider sent.

moto stores records but serves no DNS, reports every change INSYNC at once, and lets CREATE
duplicate an existing RRset: tests say what they cannot show.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from tests.harness.ports import HOST, free_port
from tests.harness.process import (
    child_env,
    retry_on_port_clash,
    start,
    stop,
    tcp_open,
    temp_dir,
    wait_until,
)

REGION = "us-east-1"
# The README's least-privilege policy for the route53 provider (resources: see module doc).
DNS_POLICY_ACTIONS = (
    "route53:ChangeResourceRecordSets",
    "route53:ListResourceRecordSets",
    "route53:GetChange",
    "route53:ListHostedZonesByName",
)
_REPO = Path(__file__).resolve().parents[2]
_R53_NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class Change:
    """One change of a ChangeResourceRecordSets batch, as the client sent it."""

    action: str
    name: str
    type: str
    ttl: int
    values: tuple[str, ...]


@dataclass
class MotoServer:
    url: str
    recording: Path
    admin: AccessKey = field(default_factory=lambda: AccessKey("", ""))
    dns_user: AccessKey = field(default_factory=lambda: AccessKey("", ""))

    def client(self, service: str, key: AccessKey | None = None) -> Any:
        """A synchronous boto3 client (admin credentials unless ``key`` is given)."""
        key = key or self.admin
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
        )  # fmt: skip

    def create_zone(self, name: str, *, private: bool = False) -> str:
        """A hosted zone named ``name`` (with the trailing dot); returns its bare id."""
        config: dict[str, Any] = {"Comment": "test", "PrivateZone": private}
        kwargs: dict[str, Any] = {"Name": name, "CallerReference": name + str(private),
                                  "HostedZoneConfig": config}
        if private:
            kwargs["VPC"] = {"VPCRegion": REGION, "VPCId": "vpc-12345678"}
        created = self.client("route53").create_hosted_zone(**kwargs)
        return str(created["HostedZone"]["Id"]).removeprefix("/hostedzone/")

    def txt_values(self, zone_id: str, fqdn: str) -> set[str]:
        """The TXT values at ``fqdn`` (quotes removed), read through the Route 53 API."""
        listed = self.client("route53").list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=fqdn, StartRecordType="TXT", MaxItems="10"
        )
        values: set[str] = set()
        for rrset in listed["ResourceRecordSets"]:
            if rrset["Name"] == fqdn and rrset["Type"] == "TXT":
                values |= {r["Value"].strip('"') for r in rrset["ResourceRecords"]}
        return values

    def changes(self, name: str) -> list[list[Change]]:
        """Every ChangeResourceRecordSets batch sent so far that touches ``name``."""
        batches = []
        for entry in self._recorded():
            if entry["method"] == "POST" and "/rrset" in entry["url"]:
                batch = _parse_batch(_body(entry))
                if any(change.name == name for change in batch):
                    batches.append(batch)
        return batches

    def calls(self, path_part: str) -> list[tuple[str, str]]:
        """(method, url) of the recorded requests whose url contains ``path_part``."""
        return [(e["method"], e["url"]) for e in self._recorded() if path_part in e["url"]]

    def _recorded(self) -> list[dict[str, Any]]:
        text = self.recording.read_text() if self.recording.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _body(entry: dict[str, Any]) -> bytes:
    body = entry.get("body") or ""
    return base64.b64decode(body) if entry.get("body_encoded") else str(body).encode()


def _parse_batch(body: bytes) -> list[Change]:
    root = ET.fromstring(body)  # noqa: S314 - our own client's request
    changes = []
    for change in root.iter(f"{_R53_NS}Change"):
        rrset = change.find(f"{_R53_NS}ResourceRecordSet")
        assert rrset is not None
        changes.append(Change(
            action=change.findtext(f"{_R53_NS}Action", ""),
            name=rrset.findtext(f"{_R53_NS}Name", ""),
            type=rrset.findtext(f"{_R53_NS}Type", ""),
            ttl=int(rrset.findtext(f"{_R53_NS}TTL", "0")),
            values=tuple(v.text or "" for v in rrset.iter(f"{_R53_NS}Value")),
        ))  # fmt: skip
    return changes


def _user(server: MotoServer, name: str, actions: list[str]) -> AccessKey:
    iam = server.client("iam")
    iam.create_user(UserName=name)
    document = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    policy = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(document))
    iam.attach_user_policy(UserName=name, PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return AccessKey(key["AccessKeyId"], key["SecretAccessKey"])


def _launch(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = tmp / "moto.log"
    env = child_env({"MOTO_ENABLE_RECORDING": "true",
                     "MOTO_RECORDER_FILEPATH": str(tmp / "recording.jsonl"),
                     "PYTHONPATH": str(_REPO)})
    argv = [sys.executable, "-m", "tests.harness.moto_main", "-H", HOST, "-p", str(port)]
    proc = start(argv, log_path=log, env=env, cwd=tmp)
    try:
        wait_until(lambda: tcp_open(HOST, port), 30, "moto_server", log, proc=proc)
    except BaseException:
        stop(proc)
        raise
    return proc, port


@contextlib.contextmanager
def moto_server() -> Iterator[MotoServer]:
    """Yields once moto answers, with IAM authentication on and two users: ``admin`` (all
    actions) and ``dns_user`` (the README's Route 53 policy)."""
    with temp_dir("ck-moto-") as tmp:
        proc, port = retry_on_port_clash(lambda: _launch(tmp))
        try:
            server = MotoServer(url=f"http://{HOST}:{port}", recording=tmp / "recording.jsonl")
            server.admin = _user(server, "admin", ["*"])
            server.dns_user = _user(server, "certkeeper-dns", list(DNS_POLICY_ACTIONS))
            httpx.post(f"{server.url}/moto-api/reset-auth", content=b"0").raise_for_status()
            yield server
        finally:
            stop(proc)
