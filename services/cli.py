"""The ``certkeeper`` command: processes, migrations, tokens, keys."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from shared.backup import BackupError, create_backup, restore_backup
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
        "all-in-one",
        help="api + issuer + renewer + notifier in one process (SQLite, in-process queue)",
    )
    sub.add_parser("api", help="the HTTP API (and the HTTP-01 responder, unless "
                   "CERTKEEPER_RESPONDER_PORT is set: then `certkeeper responder` serves it)")
    sub.add_parser("responder", help="the public HTTP-01 responder alone, on "
                   "CERTKEEPER_RESPONDER_PORT (or CERTKEEPER_HTTP_PORT)")
    worker = sub.add_parser("worker", help="a background worker")
    worker.add_argument("kind", choices=["issuer", "renewer", "notifier"])
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
    backup = sub.add_parser(
        "backup", help="embedded mode: a consistent snapshot of the database and the key file"
    )
    backup.add_argument("target", type=Path,
                        help="the archive to write (.tar), or a directory for a timestamped one")
    restore = sub.add_parser(
        "restore", help="embedded mode: put a backup's database and key file in place"
    )
    restore.add_argument("archive", type=Path, help="an archive `certkeeper backup` wrote")
    restore.add_argument("--force", action="store_true",
                         help="replace an existing database (stop Certkeeper first)")
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
    except BackupError as exc:
        print(f"certkeeper {args.command}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so what the process opened (the CPU pool's processes)
    is closed on the way out. While the listeners serve, SIGTERM stops them instead
    (``services.serving``), and this handler is back once they have stopped."""
    raise SystemExit(0)


def _preflight(command: str, settings: Settings, kind: str | None = None) -> None:
    """Refuse a process that cannot work, with one line, before anything starts. The
    notifier needs only the database."""
    queued = command == "api" or (command == "worker" and kind != "notifier")
    if queued and settings.redis_url is None:
        raise ConfigError(
            f"CERTKEEPER_REDIS_URL is required for `{command}`; `all-in-one` runs without Redis"
        )
    if settings.responder_port is not None and settings.responder_port == settings.http_port:
        raise ConfigError("CERTKEEPER_RESPONDER_PORT must differ from CERTKEEPER_HTTP_PORT")
    if settings.embedded_database:
        secure_data_dir(settings)
    if command == "responder":
        return  # reads challenges only: no encryption keys needed
    secret = settings.encryption_keys
    load_keyring(secret.get_secret_value() if secret else None, data_dir=settings.data_dir,
                 embedded=settings.embedded_database)


def _dispatch(args: argparse.Namespace, settings: Settings) -> None:
    if args.command in {"backup", "restore"}:
        print(_backup_or_restore(args, settings))  # before the preflight makes a key file
        return
    _preflight(args.command, settings, getattr(args, "kind", None))
    if args.command == "worker":
        _run_worker(args.kind, settings)
    elif args.command in {"migrate", "token", "audit", "keys"}:
        _run_admin(args, settings)
    elif args.command == "responder":
        asyncio.run(_serve_responder(settings))
    else:
        with cpu_pool():
            asyncio.run(_serve_api(args.command, settings))


def _run_admin(args: argparse.Namespace, settings: Settings) -> None:
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
    else:
        print(asyncio.run(_rotate_keys(settings)))


def _run_worker(kind: str, settings: Settings) -> None:
    if kind == "notifier":
        from services.notifier.wiring import run_notifier_worker

        asyncio.run(run_notifier_worker(settings))
    elif kind == "renewer":
        from services.renewer.wiring import run_renewer_worker

        asyncio.run(run_renewer_worker(settings))
    else:
        from services.issuer.worker import run_issuer_worker

        with cpu_pool():
            asyncio.run(run_issuer_worker(settings))


async def _serve_api(command: str, settings: Settings) -> None:
    """The api (or all-in-one) listener. With ``CERTKEEPER_RESPONDER_PORT`` the api leaves
    the challenges to the public responder: its own process (``certkeeper responder``) in
    production, a second listener in this event loop for all-in-one."""
    from services.all_in_one import embedded_resources
    from services.api.app import api_resources, create_app
    from services.api.public import create_public_app
    from services.serving import Listener, already_open, serve_listeners

    factory = embedded_resources(settings) if command == "all-in-one" else api_resources(settings)
    async with factory() as opened:
        public_port = settings.responder_port
        listeners = [Listener("api", create_app(lambda: already_open(opened),
                                                serve_challenges=public_port is None),
                              settings.http_port)]
        if public_port is not None and command == "all-in-one":
            listeners.append(Listener("responder",
                                      create_public_app(lambda: already_open(opened)),
                                      public_port))
        await serve_listeners(settings, listeners)


async def _serve_responder(settings: Settings) -> None:
    from services.api.public import create_public_app, responder_resources
    from services.serving import Listener, serve_listeners
    from shared.metrics_server import metrics_listener

    port = settings.responder_port or settings.http_port
    app = create_public_app(responder_resources(settings))
    with metrics_listener(settings):
        await serve_listeners(settings, [Listener("responder", app, port)])


def _backup_or_restore(args: argparse.Namespace, settings: Settings) -> str:
    if args.command == "backup":
        written = create_backup(settings, args.target, datetime.now(UTC))
        return f"wrote {written} (mode 0600: it holds the key file when the data dir has one)"
    manifest = restore_backup(settings, args.archive, force=args.force)
    secure_data_dir(settings)
    return (
        f"restored the database of {manifest['created_at']} (schema "
        f"{manifest['schema_revision']}, Certkeeper {manifest['certkeeper_version']})"
        + (" and the key file" if manifest["key_file"] else "")
        + f" into {settings.data_dir}; the next start migrates the schema if it is older"
    )


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
        report = await reseal_all(runtime.sessions, runtime.keyring)
    finally:
        await runtime.aclose()
    lines = [f"re-sealed {report.total} value(s) under key {runtime.keyring.primary_id}"]
    lines += [f"  {name}: {count} re-sealed, {report.current[name]} already under it"
              for name, count in report.resealed.items()]
    return "\n".join(lines)
