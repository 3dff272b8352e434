"""A throwaway BIND 9 (Debian ``bind9``) authoritative server for RFC 2136 tests.

One ``named -g -4`` process serves the caller's zones on a free port of 127.0.0.1 and, when
asked, of a second loopback address (::1, same port) as a second authoritative server
of the same zones. BIND views tell the two addresses apart:

- ``secondary="synced"``: ::1 serves the very same zones (``in-view``), so a record
  written to 127.0.0.1 is served by both at once;
- ``secondary="stale"``: ::1 serves a static copy of each zone file made at start and
  accepts no updates, so a record written to 127.0.0.1 never appears there.

Every zone has an SOA, NS records naming ``ns1.<zone>`` (127.0.0.1) and, with a secondary,
``ns2.<zone>`` (::1), an apex and a wildcard ``A 127.0.0.1`` (so Pebble's HTTP
lookups keep working) and the caller's extra records. Two kinds of TSIG keys are made with
``tsig-keygen``: one global key allowed to change TXT records in every zone, and one key per
zone allowed only there (``update-policy { grant KEY zonesub TXT; }``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update

from tests.harness.ports import HOST, free_port
from tests.harness.process import (
    StrPath,
    retry_on_port_clash,
    run_checked,
    start,
    stop,
    temp_dir,
    wait_until,
)

NAMED = "/usr/sbin/named"
TSIG_KEYGEN = "/usr/sbin/tsig-keygen"
SECOND_HOST = "::1"  # named listens only on interface addresses; lo has 127.0.0.1 and ::1
ALGORITHM = "hmac-sha256"
GLOBAL_KEY_NAME = "certkeeper-global."
Secondary = Literal["synced", "stale"]
_SECRET = re.compile(r'secret\s+"([^"]+)"')


@dataclass(frozen=True)
class TsigKey:
    name: str  # absolute: "certkeeper-global."
    algorithm: str  # "hmac-sha256"
    secret: str  # base64, as tsig-keygen printed it


@dataclass(frozen=True)
class Zone:
    """A zone to serve. ``records`` are zone-file lines; names without a trailing dot are
    relative to the zone (``"_acme-challenge.app CNAME _acme-challenge.app.other.test."``)."""

    name: str  # absolute: "example.test."
    records: Sequence[str] = ()


@dataclass
class BindServer:
    port: int
    addresses: tuple[str, ...]  # ("127.0.0.1",) or ("127.0.0.1", "::1"); primary first
    zones: tuple[str, ...]  # absolute zone names
    global_key: TsigKey  # may change TXT records in every zone
    zone_keys: Mapping[str, TsigKey]  # zone name -> a key allowed only in that zone
    secondary: Secondary | None
    log_path: Path
    startup_seconds: float
    _proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def server(self) -> str:
        """``127.0.0.1:PORT``: the primary, for the provider's ``server``, Pebble's
        ``-dnsserver`` and ``CERTKEEPER_DNS_RESOLVERS``."""
        return f"{HOST}:{self.port}"

    def nameservers(self, zone: str) -> dict[str, str]:
        """The zone's NS names and the address each resolves to."""
        return {f"ns{i}.{zone}": address for i, address in enumerate(self.addresses, start=1)}

    def query(self, name: str, rdtype: str, *, address: str = HOST) -> dns.message.Message:
        """One UDP query (no recursion) straight to one of the server's addresses."""
        message = dns.message.make_query(name, rdtype)
        message.flags &= ~dns.flags.RD
        return dns.query.udp(message, address, port=self.port, timeout=2.0)

    def txt_values(self, name: str, *, address: str = HOST) -> set[str]:
        """The TXT strings served at ``name`` (an absolute name) by one address."""
        response = self.query(name, "TXT", address=address)
        return {
            b"".join(rdata.strings).decode()
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TXT and rrset.name == dns.name.from_text(name)
            for rdata in rrset
        }

    def update(self, zone: str, action: Literal["add", "delete"], name: str, value: str) -> None:
        """Add or delete one TXT value with the global key (a test playing the person)."""
        keyring = dns.tsigkeyring.from_text({self.global_key.name: self.global_key.secret})
        message = dns.update.UpdateMessage(
            zone, keyring=keyring, keyname=dns.name.from_text(self.global_key.name),
            keyalgorithm=self.global_key.algorithm,
        )
        if action == "add":
            message.add(name, 60, "TXT", f'"{value}"')
        else:
            message.delete(name, "TXT", f'"{value}"')
        response = dns.query.tcp(message, HOST, port=self.port, timeout=5.0)
        if response.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"update {action} {name}: {dns.rcode.to_text(response.rcode())}")


def _absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _make_key(tmp: Path, name: str) -> tuple[TsigKey, str]:
    """A key made with tsig-keygen: the key and its ``key "..." {...};`` clause."""
    out = tmp / f"{name}key.conf"
    run_checked([TSIG_KEYGEN, "-a", ALGORITHM, name], log_path=out, what="tsig-keygen")
    clause = out.read_text()
    found = _SECRET.search(clause)
    if found is None:
        raise RuntimeError(f"tsig-keygen printed no secret:\n{clause}")
    return TsigKey(name=name, algorithm=ALGORITHM, secret=found.group(1)), clause


def _zone_key_name(zone: str) -> str:
    return f"zone-{zone.rstrip('.').replace('.', '-')}."


def _zone_file(zone: Zone, addresses: Sequence[str]) -> str:
    lines = [
        f"$ORIGIN {zone.name}",
        "$TTL 60",
        f"@ IN SOA ns1.{zone.name} hostmaster.{zone.name} 1 3600 600 86400 1",
        *(f"@ IN NS ns{i}" for i in range(1, len(addresses) + 1)),
        *(f"ns{i} IN {'AAAA' if ':' in address else 'A'} {address}"
          for i, address in enumerate(addresses, start=1)),
        f"@ IN A {HOST}",
        f"* IN A {HOST}",
        *zone.records,
    ]
    return "\n".join(lines) + "\n"


def _primary_zone(zone: str, path: Path, keys: Sequence[str]) -> str:
    grants = " ".join(f"grant {key} zonesub TXT;" for key in keys)
    return (
        f'  zone "{zone}" {{ type primary; file "{path}"; '
        f"update-policy {{ {grants} }}; }};"
    )


def _secondary_zone(zone: str, path: Path, secondary: Secondary) -> str:
    if secondary == "synced":
        return f'  zone "{zone}" {{ in-view "primary"; }};'
    return f'  zone "{zone}" {{ type primary; file "{path}"; }};'


def _view(name: str, address: str, zones: Sequence[str]) -> str:
    head = f'view "{name}" {{\n  match-destinations {{ {address}; }};\n'
    return head + "\n".join(zones) + "\n};\n"


def _named_conf(
    tmp: Path, port: int, zones: Sequence[Zone], key_names: Mapping[str, str],
    secondary: Secondary | None,
) -> str:
    v6 = "{ none; }" if secondary is None else f"port {port} {{ {SECOND_HOST}; }}"
    primary = [
        _primary_zone(z.name, tmp / f"{z.name}zone", [GLOBAL_KEY_NAME, key_names[z.name]])
        for z in zones
    ]
    views = [_view("primary", HOST, primary)]
    if secondary is not None:
        second = [_secondary_zone(z.name, tmp / "stale" / f"{z.name}zone", secondary)
                  for z in zones]
        views.append(_view("secondary", SECOND_HOST, second))
    return f"""options {{
  directory "{tmp}";
  listen-on port {port} {{ {HOST}; }};
  listen-on-v6 {v6};
  pid-file none;
  session-keyfile "{tmp}/session.key";
  managed-keys-directory "{tmp}";
  recursion no;
  allow-transfer {{ none; }};
  notify no;
  dnssec-validation no;
  empty-zones-enable no;
}};
controls {{ }};
include "{tmp}/keys.conf";
""" + "\n".join(views)


def _write_config(
    tmp: Path, port: int, zones: Sequence[Zone], secondary: Secondary | None
) -> tuple[TsigKey, dict[str, TsigKey]]:
    addresses = [HOST] if secondary is None else [HOST, SECOND_HOST]
    global_key, clause = _make_key(tmp, GLOBAL_KEY_NAME)
    clauses, zone_keys = [clause], {}
    for zone in zones:
        zone_keys[zone.name], zone_clause = _make_key(tmp, _zone_key_name(zone.name))
        clauses.append(zone_clause)
        text = _zone_file(zone, addresses)
        (tmp / f"{zone.name}zone").write_text(text)
        if secondary == "stale":
            (tmp / "stale").mkdir(exist_ok=True)
            (tmp / "stale" / f"{zone.name}zone").write_text(text)
    (tmp / "keys.conf").write_text("\n".join(clauses))
    key_names = {zone: key.name for zone, key in zone_keys.items()}
    (tmp / "named.conf").write_text(_named_conf(tmp, port, zones, key_names, secondary))
    return global_key, zone_keys


def _serves_soa(port: int, zones: Sequence[Zone], addresses: Sequence[str]) -> bool:
    for address in addresses:
        for zone in zones:
            query = dns.message.make_query(zone.name, "SOA")
            try:
                response = dns.query.udp(query, address, port=port, timeout=0.2)
            except (dns.exception.DNSException, OSError):
                return False
            if response.rcode() != dns.rcode.NOERROR or not response.answer:
                return False
    return True


def _launch(
    tmp: Path, zones: Sequence[Zone], secondary: Secondary | None, timeout: float
) -> tuple[subprocess.Popen[bytes], int, TsigKey, dict[str, TsigKey]]:
    for stale in (tmp.glob("*.jnl")):  # a previous attempt's journals
        stale.unlink()
    port = free_port(udp=True)
    global_key, zone_keys = _write_config(tmp, port, zones, secondary)
    addresses = [HOST] if secondary is None else [HOST, SECOND_HOST]
    log_path = tmp / "named.log"
    # -4 unless the second server listens on ::1 (listen-on-v6 names only that address)
    ipv4 = ["-4"] if secondary is None else []
    argv: list[StrPath] = [NAMED, "-g", *ipv4, "-c", tmp / "named.conf"]
    proc = start(argv, log_path=log_path, cwd=tmp)
    try:
        wait_until(lambda: _serves_soa(port, zones, addresses), timeout, "named", log_path,
                   proc=proc)
    except BaseException:
        stop(proc)
        raise
    return proc, port, global_key, zone_keys


@contextlib.contextmanager
def bind_server(
    zones: Sequence[Zone | str] = ("example.test.",),
    *,
    secondary: Secondary | None = None,
    timeout: float = 15.0,
) -> Iterator[BindServer]:
    """Yields once every address answers an SOA query for every zone; stops by pid
    (SIGTERM, SIGKILL after 5 s). Runs as root (the tests do) so no chown is needed."""
    if shutil.which(NAMED) is None:
        raise RuntimeError(f"{NAMED} is missing: install Debian's bind9")
    wanted = [z if isinstance(z, Zone) else Zone(z) for z in zones]
    wanted = [Zone(_absolute(z.name), tuple(z.records)) for z in wanted]
    began = time.monotonic()
    with temp_dir("ck-bind-") as tmp:
        proc, port, global_key, zone_keys = retry_on_port_clash(
            lambda: _launch(tmp, wanted, secondary, timeout)
        )
        server = BindServer(
            port=port,
            addresses=(HOST,) if secondary is None else (HOST, SECOND_HOST),
            zones=tuple(z.name for z in wanted),
            global_key=global_key,
            zone_keys=zone_keys,
            secondary=secondary,
            log_path=tmp / "named.log",
            startup_seconds=time.monotonic() - began,
            _proc=proc,
        )
        try:
            yield server
        finally:
            stop(proc)
