"""onekit-server: create an instance (init) and run its server (run, start, stop, status)."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, NotFound
from ansible_collections.onekit.cloud.plugins.module_utils.flow.config import FlowConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from ansible_collections.onekit.cloud.plugins.module_utils.gate.config import GateConfig
from ansible_collections.onekit.cloud.plugins.module_utils.objects import hosts
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates
from onekit.cli.common import Cli, Context, Handler, arg

_DB_OPTIONS = ("db_server", "db_port", "db_user", "db_passwd", "db_name")


def _config_from(args: argparse.Namespace) -> InstanceConfig | None:
    """The settings given on the command line over the defaults; None if none was given."""
    given = {
        k: v
        for k, v in vars(args).items()
        if k in ("port", "listen_address", "db_backend", *_DB_OPTIONS) and v is not None
    }
    if not given:
        return None
    env_password = os.environ.get("ONEKIT_DB_PASSWD")
    if given.get("db_backend") == "mysql" and "db_passwd" not in given and env_password:
        given["db_passwd"] = env_password
    if given.get("db_backend", "sqlite") == "sqlite" and set(given) & set(_DB_OPTIONS):
        raise InvalidInput(
            "--db-server/--db-port/--db-user/--db-passwd/--db-name need --db-backend mysql"
        )
    base = InstanceConfig()
    fields = {
        "db_backend": "backend",
        "db_server": "server",
        "db_port": "port",
        "db_user": "user",
        "db_passwd": "passwd",
        "db_name": "db_name",
    }
    db = replace(base.db, **{fields[k]: v for k, v in given.items() if k in fields})
    return replace(
        base,
        port=given.get("port", base.port),
        listen_address=given.get("listen_address", base.listen_address),
        db=db,
    )


EMBEDDED_HOST = "localhost"


def _examples(ctx: Context) -> None:
    """The embedded default: host localhost on libvirt's test driver, through a libvirtd
    of this instance's own that the running server runs, and the example templates; what
    exists already is left alone."""
    from onekit.server.sim_host import SimHost  # the server's, loaded only for init

    name, uri = EMBEDDED_HOST, SimHost(ctx.instance.sim_dir).uri
    try:
        hosts.show(ctx.session, name)
    except NotFound:
        hosts.create(ctx.session, name, "kvm", "kvm", uri)
        ctx.out(f"  host:        {name} (libvirt's test driver, run by the server: {uri})")
    for entry in sorted(resources.files("onekit.examples").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".tmpl"):
            try:
                templates.show(ctx.session, entry.name.removesuffix(".tmpl"))
            except NotFound:
                created = templates.create(ctx.session, entry.read_text())
                ctx.out(f"  template:    {created['NAME']} (ID {created['ID']})")


def _init(ctx: Context, args: argparse.Namespace) -> int | None:
    instance = ctx.instance
    if args.exist_ok and instance.is_initialised():
        ctx.out(f"onekit instance already initialised in {instance.home}")
        if args.examples:
            _examples(ctx)
        return 0
    flow = None if args.flow_port is None else FlowConfig(port=args.flow_port)
    gate = None if args.gate_port is None else GateConfig(port=args.gate_port)
    instance.init(_config_from(args), flow=flow, onegate=gate)
    config = instance.config()
    ctx.out(f"onekit instance created in {instance.home}")
    ctx.out(f"  store:       {instance.database(config=config).description}")
    ctx.out(f"  credentials: {instance.auth_path} (user oneadmin)")
    ctx.out(f"  server:      onekit-server run  (http://{config.listen_address}:{config.port})")
    ctx.out(f"  OneFlow:     {instance.flow_config().url} ({instance.flow_config_path})")
    if args.examples:
        _examples(ctx)
    return None


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _run(ctx: Context, args: argparse.Namespace) -> None:
    from onekit.server import process

    _logging()
    process.run(ctx.instance)


TIMEOUT_VAR = "ONEKIT_SERVER_TIMEOUT"
DEFAULT_TIMEOUT = 20.0


def _timeout(args: argparse.Namespace) -> float:
    """``--timeout``, else ONEKIT_SERVER_TIMEOUT, else 20 s: how long start waits for the
    server to answer and stop for it to exit (a busy machine may need longer)."""
    given, name = args.timeout, "--timeout"
    if given is None:
        given, name = os.environ.get(TIMEOUT_VAR, "").strip() or DEFAULT_TIMEOUT, TIMEOUT_VAR
    try:
        seconds = float(given)
    except ValueError:
        seconds = float("nan")
    if not 1 <= seconds <= 3600:  # NaN too
        raise InvalidInput(f"{name} must be seconds from 1 to 3600, got {str(given)[:40]!r}")
    return seconds


TIMEOUT = arg(
    "--timeout",
    metavar="SECONDS",
    help=f"how long to wait (default ${TIMEOUT_VAR}, else {DEFAULT_TIMEOUT:g})",
)


def _start(ctx: Context, args: argparse.Namespace, name: str = "onekit-server") -> None:
    from onekit.server import process

    pid = process.start(ctx.instance, _timeout(args), name)
    ctx.out(f"{name} started (pid {pid}), log: {ctx.instance.log_path(name)}")


def _stop(ctx: Context, args: argparse.Namespace, name: str = "onekit-server") -> None:
    from onekit.server import process

    pid = process.stop(ctx.instance, _timeout(args), name)
    ctx.out(f"{name} stopped (pid {pid})")


def _status(ctx: Context, args: argparse.Namespace, name: str = "onekit-server") -> int:
    from onekit.server import process

    pid = process.read_pid(ctx.instance, name)
    if pid is None:
        ctx.out(f"{name} of {ctx.instance.home} is not running")
        return 3  # LSB: program is not running
    ctx.out(
        f"{name} of {ctx.instance.home} is running (pid {pid}), "
        f"{process.health_url(ctx.instance, name)}"
    )
    return 0


def _econe_run(ctx: Context, args: argparse.Namespace) -> None:
    from onekit.server import process

    _logging()
    process.run_econe(ctx.instance)


def _occi_run(ctx: Context, args: argparse.Namespace) -> None:
    from onekit.server import process

    _logging()
    process.run_occi(ctx.instance)


def build() -> Cli:
    cli = Cli(
        "onekit-server", "Create and run an onekit instance ($ONEKIT_HOME, default ~/.onekit)."
    )
    p = cli.command(
        "init",
        "create the instance: config, store, oneadmin, one_auth",
        _init,
        description="Create the instance. Without settings it uses $ONEKIT_HOME/etc/oned.conf "
        "if that exists (edit it first to name a MySQL server, as for oned), else defaults: "
        "SQLite in $ONEKIT_HOME/var/one.db, server on 127.0.0.1:2633.",
    )
    p.add_argument(
        "--exist-ok", action="store_true", help="succeed without change when it is initialised"
    )
    p.add_argument(
        "--examples",
        action="store_true",
        help="also register host localhost on libvirt's test driver and example templates",
    )
    p.add_argument("--port", type=int, help="server port (default 2633)")
    p.add_argument("--listen-address", help="server address (default 127.0.0.1)")
    p.add_argument(
        "--flow-port", type=int, help="OneFlow API port in oneflow-server.conf (default 2474)"
    )
    p.add_argument(
        "--gate-port", type=int, help="OneGate port in onegate-server.conf (default 5030)"
    )
    p.add_argument(
        "--db-backend",
        choices=("sqlite", "mysql"),
        help="the store (default sqlite, in $ONEKIT_HOME/var/one.db)",
    )
    p.add_argument("--db-server", help="MySQL host (default localhost)")
    p.add_argument("--db-port", type=int, help="MySQL port (default 0: 3306)")
    p.add_argument("--db-user", help="MySQL user (default oneadmin)")
    p.add_argument(
        "--db-passwd",
        help="MySQL password (or ONEKIT_DB_PASSWD, which keeps it off the command line)",
    )
    p.add_argument("--db-name", help="MySQL database, created if missing (default opennebula)")
    cli.command("run", "serve in the foreground (Ctrl-C stops)", _run)
    cli.command("start", "start the server in the background", _start, arguments=[TIMEOUT])
    cli.command("stop", "stop the background server", _stop, arguments=[TIMEOUT])
    cli.command("status", "tell whether the server runs (exit 3 if not)", _status)
    cli.command("econe-run", "serve the EC2 Query API alone, in the foreground", _econe_run)
    cli.command("occi-run", "serve the OCCI API alone, in the foreground", _occi_run)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    return build().main(argv)


def _standalone(name: str, api: str, conf: str, run: Handler) -> Cli:
    """``<name> start|stop|status|run``: one cloud API (``api``, configured in
    ``etc/<conf>``) as a process of its own, with its own pid and log (``var/<name>.*``).
    An onekit-server of the same store runs the loops that place and run the VMs it
    makes; with ``etc/<conf>`` present, onekit-server serves the API itself and this
    command is not needed."""
    cli = Cli(name, f"Start or stop the {api} server (etc/{conf}).")
    cli.command(
        "start",
        f"start the {api} server in the background",
        lambda ctx, args: _start(ctx, args, name),
        arguments=[TIMEOUT],
    )
    cli.command(
        "stop",
        f"stop the background {api} server",
        lambda ctx, args: _stop(ctx, args, name),
        arguments=[TIMEOUT],
    )
    cli.command(
        "status",
        f"tell whether the {api} server runs (exit 3 if not)",
        lambda ctx, args: _status(ctx, args, name),
    )
    cli.command("run", f"serve the {api} API in the foreground", run)
    return cli


def econe_main(argv: Sequence[str] | None = None) -> int:
    """``econe-server``: the EC2 Query API (the guide's 7.2.4)."""
    return _standalone("econe-server", "EC2 Query", "econe.conf", _econe_run).main(argv)


def occi_main(argv: Sequence[str] | None = None) -> int:
    """``occi-server``: the OCCI API (the guide's 7.3.4)."""
    return _standalone("occi-server", "OCCI", "occi-server.conf", _occi_run).main(argv)


def _alias(prog: str, what: str) -> Cli:
    """``oneflow-server`` / ``onegate-server start|stop|status``, as the guide starts
    OneFlow and OneGate: the same server (each is one of its APIs), under its name."""

    def say(handler: Handler, done: str) -> Handler:
        def run(ctx: Context, args: argparse.Namespace) -> int | None:
            result = handler(ctx, args)
            ctx.out(done)
            return result

        return run

    cli = Cli(prog, f"Start or stop the {what} server (onekit-server).")
    start, stop = say(_start, f"{prog} started"), say(_stop, f"{prog} stopped")
    cli.command("start", "start the server in the background", start, arguments=[TIMEOUT])
    cli.command("stop", "stop the background server", stop, arguments=[TIMEOUT])
    cli.command("status", "tell whether the server runs (exit 3 if not)", _status)
    return cli


def flow_main(argv: Sequence[str] | None = None) -> int:
    return _alias("oneflow-server", "OneFlow").main(argv)


def gate_main(argv: Sequence[str] | None = None) -> int:
    return _alias("onegate-server", "OneGate").main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
