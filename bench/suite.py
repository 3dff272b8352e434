"""All of issue 12's benchmarks in one run, printed as one table.

Run with ``make bench`` or ``.venv/bin/python -m bench.suite [--only PART,...]
[--requests N] [--total N] ...``. Parts, in the order they run:

- ``issuance`` (targets 1, 2, 5): the floor client (a minimal ``acme`` client, burst in a
  bounded pool of threads), certbot (one process per certificate), then each topology
  (production: Postgres + Redis, one api, one issuer, plus renewer and notifier; embedded:
  all-in-one). Each: a warm-up, ``--runs`` sequential requests (latency: POST until
  ``issued``), then ``--requests`` posted at once (throughput), 2 names each, EC P-256,
  HTTP-01; in ``--bursts`` rounds, the floor and the topologies taking turns, each opened
  afresh (the median burst counts). Memory: every Certkeeper process and its children,
  resident set just before the burst (idle) and its high-water mark after it (peak), the
  highest of the rounds.
- ``scale-out`` (target 6): the burst with 2 api and 2 issuer processes; orders Pebble
  created and requests issued, both against the number of requests.
- ``api`` (target 3) and ``renewer`` (target 4) on one Postgres seeded once with
  ``--total`` certificates (about 1 % due): the certificate list's p99 under ``--clients``
  clients against raw asyncpg; the renewer's claim of every due certificate against raw SQL,
  then a whole pass bounded to ``--pass-limit`` renewals.

Every server is a throwaway instance; ratios compare figures measured in this run.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench import repository, scale_out, throughput
from bench.api_pages import ROUNDS
from bench.figures import Figure, table
from bench.issuance import BURSTS_HELP, Row
from bench.machine import header, load_average

PARTS = ("issuance", "scale-out", "api", "renewer")


def parts_of(text: str) -> set[str]:
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(PARTS)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown part {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    return chosen


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("--only", type=parts_of, default=set(PARTS), metavar="PART,...",
                       help=f"run only these parts ({', '.join(PARTS)}; default all)")
    found.add_argument("--skip", type=parts_of, default=set(), metavar="PART,...",
                       help="leave these parts out")
    found.add_argument("--requests", type=int, default=100,
                       help="requests posted at once (throughput, memory, scale-out)")
    found.add_argument("--runs", type=int, default=10,
                       help="sequential requests for the latency median")
    found.add_argument("--bursts", type=int, default=3,
                       help=BURSTS_HELP)
    found.add_argument("--certbot", type=int, default=3,
                       help="certbot runs (one process each); 0: no certbot reference")
    found.add_argument("--total", type=int, default=1_000_000,
                       help="certificates seeded for the api and renewer parts")
    found.add_argument("--clients", type=int, default=50, help="concurrent list clients")
    found.add_argument("--rounds", type=int, default=ROUNDS, help="list requests per client")
    found.add_argument("--renewer-rounds", type=int, default=3,
                       help="claim measurements (median taken)")
    found.add_argument("--pass-limit", type=int, default=1000,
                       help="renewals in the renewer's whole pass (0: every due one)")
    return found


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "part: error"

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Time a part; if it fails, print why and go on with the next (a long run keeps
        what the other parts measured)."""
        print(f"== {name} (load average {load_average()})", flush=True)
        began = time.monotonic()
        try:
            yield
        except Exception as exc:  # a failed part is reported, and the run goes on
            traceback.print_exc()
            self.failed.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        print(f"== {name}: {time.monotonic() - began:.0f} s", flush=True)


def collect(args: argparse.Namespace, parts: set[str]) -> Results:
    results = Results()
    rows: dict[str, Row] = {}
    if "issuance" in parts:
        with results.part("issuance"):
            found, rows = throughput.run(args.runs, args.requests, args.certbot, args.bursts)
            results.figures += found
    if "scale-out" in parts:
        single = rows.get("production")
        with results.part("scale-out"):
            results.figures += scale_out.run(args.requests, single.rate if single else None)
    if parts & {"api", "renewer"}:
        with results.part(" and ".join(p for p in PARTS if p in parts & {"api", "renewer"})):
            results.figures += repository.run(args.total, args.clients, args.rounds,
                                              args.renewer_rounds, args.pass_limit or None,
                                              parts)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if min(args.requests, args.runs, args.total, args.clients, args.rounds,
           args.renewer_rounds) < 1:
        parser().error("--requests, --runs, --total, --clients and --rounds must be >= 1")
    parts = args.only - args.skip
    started, load_before, began = datetime.now(UTC), load_average(), time.monotonic()
    results = collect(args, parts)
    figures = results.figures
    print()
    print("\n".join(header(started, load_before)))
    print(f"parts: {', '.join(p for p in PARTS if p in parts)}; {args.requests} requests at "
          f"once, {args.runs} sequential, {args.total:,} certificates; "
          f"{time.monotonic() - began:.0f} s in all")
    print()
    print(table(figures))
    missed = [f.name for f in figures if f.met is False]
    print(f"\n{len(missed)} of {sum(f.met is not None for f in figures)} targets not met"
          + (": " + "; ".join(missed) if missed else ""))
    for failure in results.failed:
        print(f"FAILED {failure}")
    if results.failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
