"""onekit-server: create an instance (init) and run its server (run, start, stop, status)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import replace

from ansible_collections.onekit.cloud.plugins.module_utils.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.instance import mysql_config
from onekit.cli.common import Cli, Context


def _init(ctx: Context, args: argparse.Namespace) -> int | None:
    instance = ctx.instance
    if args.exist_ok and instance.config_path.exists():
        ctx.out(f"onekit instance already initialised in {instance.home}")
        return 0
    config = InstanceConfig()
    if args.db_backend == "mysql":
        config = mysql_config(
            args.db_server, args.db_port, args.db_user, args.db_passwd, args.db_name, config
        )
    config = replace(config, port=args.port, listen_address=args.listen_address)
    instance.init(config)
    ctx.out(f"onekit instance created in {instance.home}")
    ctx.out(f"  store:       {instance.database().description}")
    ctx.out(f"  credentials: {instance.auth_path} (user oneadmin)")
    ctx.out(f"  server:      onekit-server run  (http://{config.listen_address}:{config.port})")
    return None


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _run(ctx: Context, args: argparse.Namespace) -> None:
    from onekit.server import process

    _logging()
    process.run(ctx.instance)


def _start(ctx: Context, args: argparse.Namespace) -> None:
    from onekit.server import process

    pid = process.start(ctx.instance)
    ctx.out(f"onekit-server started (pid {pid}), log: {ctx.instance.log_path()}")


def _stop(ctx: Context, args: argparse.Namespace) -> None:
    from onekit.server import process

    pid = process.stop(ctx.instance)
    ctx.out(f"onekit-server stopped (pid {pid})")


def _status(ctx: Context, args: argparse.Namespace) -> int:
    from onekit.server import process

    pid = process.read_pid(ctx.instance)
    if pid is None:
        ctx.out(f"onekit-server of {ctx.instance.home} is not running")
        return 3  # LSB: program is not running
    ctx.out(
        f"onekit-server of {ctx.instance.home} is running (pid {pid}), "
        f"{process.health_url(ctx.instance)}"
    )
    return 0


def build() -> Cli:
    cli = Cli(
        "onekit-server", "Create and run an onekit instance ($ONEKIT_HOME, default ~/.onekit)."
    )
    p = cli.command("init", "create the instance: config, store, oneadmin, one_auth", _init)
    p.add_argument(
        "--exist-ok", action="store_true", help="succeed without change when the instance exists"
    )
    p.add_argument("--port", type=int, default=2633, help="server port (default 2633)")
    p.add_argument(
        "--listen-address", default="127.0.0.1", help="server address (default 127.0.0.1)"
    )
    p.add_argument(
        "--db-backend",
        choices=("sqlite", "mysql"),
        default="sqlite",
        help="the store (default sqlite, in $ONEKIT_HOME/var/one.db)",
    )
    p.add_argument("--db-server", default="localhost", help="MySQL host")
    p.add_argument("--db-port", type=int, default=0, help="MySQL port (0: default 3306)")
    p.add_argument("--db-user", default="oneadmin", help="MySQL user")
    p.add_argument("--db-passwd", default="", help="MySQL password")
    p.add_argument("--db-name", default="opennebula", help="MySQL database (created if missing)")
    cli.command("run", "serve in the foreground (Ctrl-C stops)", _run)
    cli.command("start", "start the server in the background", _start)
    cli.command("stop", "stop the background server", _stop)
    cli.command("status", "tell whether the server runs (exit 3 if not)", _status)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
