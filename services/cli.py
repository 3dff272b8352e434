"""The ``certkeeper`` command: processes, migrations, tokens, keys."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from datetime import datetime

import uvicorn

from shared.config import Settings, load_settings
from shared.cpu import cpu_pool
from shared.crypto import load_keyring, new_key_spec
from shared.db import secure_data_dir
from shared.domain.api_tokens import TokenSpec
from shared.errors import ConfigError, Problem
from shared.logs import configure_logging
from shared.models.tokens import TOKEN_NAME_LENGTH
from shared.roles import Role


def _token_name(value: str) -> str:
    """A token's name as its column holds it: 1 to 128 printable characters."""
    if not value.strip() or len(value) > TOKEN_NAME_LENGTH or not value.isprintable():
        raise argparse.ArgumentTypeError(f"must be 1 to {TOKEN_NAME_LENGTH} printable characters")
    return value


def _aware_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("must have an offset, e.g. Z")
    return parsed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certkeeper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "all-in-one", help="api + issuer + renewer in one process (SQLite, in-process queue)"
    )
    sub.add_parser("api", help="the HTTP API and the HTTP-01 responder")
    worker = sub.add_parser("worker", help="a background worker")
    worker.add_argument("kind", choices=["issuer", "renewer"])
    sub.add_parser("migrate", help="apply database migrations")
    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token; prints it once on stdout")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True, type=_token_name)
    create.add_argument("--expires", type=_aware_time, metavar="RFC3339",
                        help="expiry time with an offset, e.g. 2027-01-01T00:00:00Z")
    create.add_argument("--domain", action="append", default=[], metavar="SUFFIX",
                        help="limit an operator or viewer token to this domain (repeatable)")
    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check the hash chain; exit 1 naming the first "
                         "broken event")
    keys = sub.add_parser("keys", help="encryption keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("generate", help="print a new CERTKEEPER_ENCRYPTION_KEYS value")
    keys_sub.add_parser("rotate", help="re-seal every secret under the first key")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        if args.command == "keys" and args.keys_command == "generate":
            print(new_key_spec())
            return
        settings = load_settings()
        configure_logging(settings.log_level, log_sql=settings.log_sql)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        _dispatch(args, settings)
    except ConfigError as exc:
        print(f"certkeeper: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so what the process opened (the CPU pool's processes)
    is closed on the way out. uvicorn handles SIGTERM itself while it serves, then raises it
    again once it has stopped: that second one lands here instead of killing the process."""
    raise SystemExit(0)


def _preflight(command: str, settings: Settings) -> None:
    """Refuse a process that cannot work, with one line, before anything starts."""
    if command in {"api", "worker"} and settings.redis_url is None:
        raise ConfigError(
            f"CERTKEEPER_REDIS_URL is required for `{command}`; `all-in-one` runs without Redis"
        )
    if settings.embedded_database:
        secure_data_dir(settings)
    secret = settings.encryption_keys
    load_keyring(secret.get_secret_value() if secret else None, data_dir=settings.data_dir,
                 embedded=settings.embedded_database)


def _dispatch(args: argparse.Namespace, settings: Settings) -> None:
    _preflight(args.command, settings)
    if args.command == "migrate":
        from shared.migrate import upgrade

        upgrade(settings.sqlalchemy_url)
    elif args.command == "token":
        spec = TokenSpec(name=args.name, role=Role(args.role), expires_at=args.expires,
                         domains=args.domain)
        print(asyncio.run(_create_token(settings, spec)))
    elif args.command == "audit":
        report, ok = asyncio.run(_verify_audit(settings))
        print(report)
        if not ok:
            raise SystemExit(1)
    elif args.command == "keys":
        print(asyncio.run(_rotate_keys(settings)))
    elif args.command == "worker" and args.kind == "renewer":
        from services.renewer.wiring import run_renewer_worker

        asyncio.run(run_renewer_worker(settings))
    elif args.command == "worker":
        from services.issuer.worker import run_issuer_worker

        with cpu_pool():
            asyncio.run(run_issuer_worker(settings))
    else:
        with cpu_pool():
            _serve(args.command, settings)


def _serve(command: str, settings: Settings) -> None:
    from services.all_in_one import embedded_resources
    from services.api.app import api_resources, create_app

    factory = embedded_resources(settings) if command == "all-in-one" else api_resources(settings)
    config = uvicorn.Config(
        create_app(factory), host=settings.http_host, port=settings.http_port,
        log_config=None, proxy_headers=True, lifespan="on",
    )
    asyncio.run(_run_server(uvicorn.Server(config)))


async def _run_server(server: uvicorn.Server) -> None:
    await server.serve()
    if not server.started:
        raise SystemExit(1)


async def _create_token(settings: Settings, spec: TokenSpec) -> str:
    from shared.domain.api_tokens import issue_token
    from shared.domain.tokens import process_principal
    from shared.runtime import build_runtime

    if settings.embedded_database:
        from shared.migrate import upgrade_async

        await upgrade_async(settings.sqlalchemy_url)
    runtime = build_runtime(settings)
    try:
        async with runtime.sessions() as session:
            _row, token = await issue_token(session, settings, spec, process_principal("cli"))
    except Problem as problem:
        raise ConfigError(problem.detail) from None
    finally:
        await runtime.aclose()
    return token


async def _verify_audit(settings: Settings) -> tuple[str, bool]:
    from shared.domain.audit_trail import verify_chain
    from shared.runtime import build_runtime

    runtime = build_runtime(settings)
    try:
        report = await verify_chain(runtime.sessions)
    finally:
        await runtime.aclose()
    if report.broken_at is None:
        return f"audit chain intact: {report.events} event(s)", True
    row = report.broken_at
    return (f"audit chain broken at event {row.id} (seq {row.seq}, {row.action}): "
            f"{report.reason}; {report.events} event(s) before it are intact"), False


async def _rotate_keys(settings: Settings) -> str:
    from shared.domain.keys import reseal_all
    from shared.runtime import build_runtime

    runtime = build_runtime(settings)
    try:
        changed = await reseal_all(runtime.sessions, runtime.keyring)
    finally:
        await runtime.aclose()
    return f"re-sealed {changed} value(s) under key {runtime.keyring.primary_id}"
