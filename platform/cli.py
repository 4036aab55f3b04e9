"""The ``plateaux`` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence

from plateaux.platform.settings import get_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    # The app factory reads its settings from the environment: the address given here
    # must reach it too, since the public base URL defaults to it.
    if args.host:
        os.environ["PLATEAUX_HOST"] = args.host
    if args.port:
        os.environ["PLATEAUX_PORT"] = str(args.port)
    get_settings.cache_clear()
    settings = get_settings()
    uvicorn.run(
        "plateaux.platform.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_config=None,
        access_log=False,
        ws="websockets",
    )
    return 0


def _worker(_args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.redis_url:
        print(
            "The worker needs PLATEAUX_REDIS_URL; without it jobs run inside `plateaux serve`.",
            file=sys.stderr,
        )
        return 2
    from arq.worker import run_worker

    from plateaux.platform.worker import worker_settings

    run_worker(worker_settings(settings))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from plateaux.platform.migrate import upgrade

    upgrade(get_settings(), args.revision)
    print(f"database migrated to {args.revision}")
    return 0


def _demo(_args: argparse.Namespace) -> int:
    from plateaux.platform.demo import seed_demo

    summary = asyncio.run(seed_demo(get_settings()))
    print(summary)
    return 0


def _create_operator(args: argparse.Namespace) -> int:
    from plateaux.platform.operators import create_operator_account

    password = args.password or os.environ.get("PLATEAUX_OPERATOR_PASSWORD")
    if not password:
        password = getpass.getpass("Password: ")
    asyncio.run(
        create_operator_account(
            get_settings(), email=args.email, name=args.name or args.email, password=password
        )
    )
    print(f"operator {args.email} is ready")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plateaux", description="Plateaux contact center")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)
    sub.add_parser("worker", help="run the background job worker").set_defaults(func=_worker)
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(func=_migrate)
    sub.add_parser("demo", help="create the demo tenant").set_defaults(func=_demo)
    op = sub.add_parser("create-operator", help="create or update a platform operator")
    op.add_argument("email")
    op.add_argument("--name")
    op.add_argument("--password", help="read from PLATEAUX_OPERATOR_PASSWORD or asked if absent")
    op.set_defaults(func=_create_operator)
    # Listed for --help; main() hands `simulate` and its options to the simulator.
    sub.add_parser("simulate", help="simulate a contact center with the routing engine")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["simulate"]:
        # The simulator has its own options; hand them over untouched.
        from plateaux.routing.simulator import main as simulate_main

        return simulate_main(arguments[1:])
    args = build_parser().parse_args(arguments)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
