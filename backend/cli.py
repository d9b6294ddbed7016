"""``broadcaster-backend``: serve the API, and manage appointments and credentials."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from backend.config import BackendConfig
from backend.store import Appointment, Role, SqliteStore


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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
    store = SqliteStore(db_path)
    if args.command == "appointment":
        store.add_appointment(
            Appointment(args.id, args.host_user, args.tenant, args.title, args.base_price)
        )
        print(f"appointment {args.id} hosted by {args.host_user}")
        return 0
    if args.command in ("host", "viewer", "admin"):
        token = store.add_credential(args.user_id, Role(args.command))
        print(token)
        print(
            f"(the {args.command} credential of {args.user_id}; it is not shown again)",
            file=sys.stderr,
        )
        return 0
    assert config is not None
    from aiohttp import web

    from backend.app import create_app
    from backend.service import LiveKitBackendService

    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 8787)
    web.run_app(
        create_app(LiveKitBackendService(config, store)),
        host=host,
        port=port,
        print=lambda text: print(f"broadcaster-backend on http://{host}:{port}"),
    )
    return 0
