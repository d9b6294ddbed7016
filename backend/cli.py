"""``broadcaster-backend``: serve the API, and manage appointments and credentials."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from backend.config import BackendConfig
from backend.store import (
    DEFAULT_CREDENTIAL_TTL_S,
    Appointment,
    Role,
    SecretBox,
    SqliteStore,
    Store,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broadcaster-backend",
        description="The reference backend of the platform's /api/livekit contract.",
    )
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: per user)")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve the API (the default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    appointment = sub.add_parser("appointment", help="manage appointments")
    appointment_sub = appointment.add_subparsers(dest="appointment_command", required=True)
    add = appointment_sub.add_parser("add", help="add an appointment")
    add.add_argument("id")
    add.add_argument("--host-user", required=True, help="user id of its host")
    add.add_argument("--tenant", default="")
    add.add_argument("--title", default="")
    add.add_argument("--base-price", type=float, default=0.0)
    for role in ("host", "viewer", "admin"):
        cred = sub.add_parser(role, help=f"manage {role} credentials")
        cred_sub = cred.add_subparsers(dest=f"{role}_command", required=True)
        cred_add = cred_sub.add_parser("add", help=f"create a {role} credential (printed once)")
        cred_add.add_argument("user_id")
        cred_add.add_argument(
            "--ttl-days",
            type=float,
            default=DEFAULT_CREDENTIAL_TTL_S / 86_400,
            help="days until it expires (default 90)",
        )
        if role == "viewer":
            cred_add.add_argument(
                "--appointment", required=True, help="the one appointment this viewer may watch"
            )
    revoke = sub.add_parser("revoke", help="revoke credentials at once")
    who = revoke.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="every credential of this user id")
    who.add_argument("--credential", help="this one credential (read from the argument)")
    revoke.add_argument("--role", choices=[r.value for r in Role], help="only of this role")
    sub.add_parser("new-secret-key", help="print a key for BROADCASTER_SECRET_KEY")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "new-secret-key":
        print(SecretBox.new_key())
        return 0
    try:
        config = BackendConfig.from_env(database_path=args.db)
    except ValueError as error:
        if args.command in (None, "serve"):
            print(f"broadcaster-backend: {error}", file=sys.stderr)
            return 2
        config = None
    db_path = args.db or (config.database_path if config else None)
    if db_path is None:
        print("broadcaster-backend: give --db or set the LIVEKIT_* variables", file=sys.stderr)
        return 2
    store: Store
    if config is not None and config.database_url:
        from backend.service import open_store

        store = open_store(config)  # PostgreSQL (BROADCASTER_DATABASE_URL)
    else:
        store = SqliteStore(db_path)
    if args.command == "appointment":
        store.add_appointment(
            Appointment(args.id, args.host_user, args.tenant, args.title, args.base_price)
        )
        print(f"appointment {args.id} hosted by {args.host_user}")
        return 0
    if args.command in ("host", "viewer", "admin"):
        if args.ttl_days <= 0:
            print("broadcaster-backend: --ttl-days must be more than 0", file=sys.stderr)
            return 2
        token = store.add_credential(
            args.user_id,
            Role(args.command),
            getattr(args, "appointment", "") or "",
            ttl_s=args.ttl_days * 86_400,
        )
        print(token)
        print(
            f"(the {args.command} credential of {args.user_id}, valid {args.ttl_days:g} days; "
            "it is not shown again)",
            file=sys.stderr,
        )
        return 0
    if args.command == "revoke":
        if args.credential:
            done = store.revoke_credential(args.credential)
            print("revoked 1 credential" if done else "no such active credential")
            return 0 if done else 1
        count = store.revoke(args.user, Role(args.role) if args.role else None)
        print(f"revoked {count} credential(s) of {args.user}")
        return 0
    store.close()
    assert config is not None
    from aiohttp import web

    from backend.app import ACCESS_LOG_FORMAT, create_app
    from backend.service import LiveKitBackendService, open_store  # noqa: F811

    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 8787)
    web.run_app(
        create_app(LiveKitBackendService(config, open_store(config))),
        host=host,
        port=port,
        access_log_format=ACCESS_LOG_FORMAT,
        print=lambda text: print(f"broadcaster-backend on http://{host}:{port}"),
    )
    return 0
