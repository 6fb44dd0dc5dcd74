"""The ``flightmesh`` command.

::

    flightmesh serve MESH.yaml [--host 127.0.0.1] [--port 8815]   serve a mesh over Flight SQL
    flightmesh check MESH.yaml                                     validate a descriptor and its engines
    (both take --allow-unavailable: an engine that cannot be reached leaves its product unavailable
    instead of refusing the mesh)
    flightmesh check --settings                                    the settings a descriptor may set
    flightmesh query --user U [--password P] [--uri URI] "SQL"     run one statement, print the result
    flightmesh explain --user U [--password P] [--uri URI] "SQL"   show how flightmesh would run it
    flightmesh demo [DIR] [--host 127.0.0.1] [--port 8815]         write the demo mesh and serve it
    flightmesh revoke --user ADMIN [--password P] [--uri URI] USER  refuse every token USER holds
    flightmesh reload --user ADMIN [--password P] [--uri URI]       re-read the served descriptor (or: kill -HUP)
    flightmesh refresh --user ADMIN [--password P] [--uri URI] [PRODUCT]  describe the engines again
    flightmesh introspect --kind KIND (--uri URI | --path PATH) --product NAME [--tables GLOB] [-o FILE]
                                                                   write a product descriptor from an engine

``query``, ``explain``, ``revoke`` and ``reload`` take the password from ``--password``, else
``FLIGHTMESH_PASSWORD``, else a prompt when a terminal is attached. Every failure prints one
line (a descriptor's problems one per line) on stderr and exits with status 1; usage mistakes
exit with 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from flightmesh.mesh import SETTINGS_DOCS, DescriptorError, FlightmeshError, Settings

from .table_format import format_explain, format_table, privacy_footer

__all__ = ["main"]

DEFAULT_URI = "grpc://127.0.0.1:8815"
PASSWORD_VARIABLE = "FLIGHTMESH_PASSWORD"


class CommandError(Exception):
    """A failure to report as one line, exit status 1."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except CommandError as error:
        _fail(str(error))
    except DescriptorError as error:
        _fail(f"{len(error.problems)} problem(s) in the mesh descriptor:")
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
    except FlightmeshError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail("interrupted")
    return 1


def _fail(message: str) -> None:
    print(f"flightmesh: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flightmesh", description="Arrow Flight SQL query federation over a data mesh."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve a mesh over Flight SQL")
    serve.add_argument("descriptor", metavar="MESH.yaml", type=Path)
    _listen_options(serve)
    _allow_unavailable_option(serve)
    serve.set_defaults(run=_serve_command)

    check = commands.add_parser("check", help="validate a mesh descriptor and reach its engines")
    check.add_argument("descriptor", metavar="MESH.yaml", type=Path, nargs="?")
    check.add_argument("--settings", action="store_true", help="list the settings a descriptor may set")
    _allow_unavailable_option(check)
    check.set_defaults(run=_check_command)

    for name, explain in (("query", False), ("explain", True)):
        summary = "show how flightmesh runs a statement" if explain else "run one statement, print the result"
        client = commands.add_parser(name, help=summary)
        client.add_argument("sql", metavar="SQL")
        client.add_argument("--user", "-u", required=True)
        client.add_argument("--password", "-p", help=f"default: ${PASSWORD_VARIABLE}, else a prompt")
        client.add_argument("--uri", default=DEFAULT_URI, help=f"the server (default {DEFAULT_URI})")
        client.add_argument("--max-rows", type=int, default=1000, help="rows to print (default 1000)")
        client.set_defaults(run=_query_command, explain=explain)

    revoke = _admin_command(commands, "revoke", "refuse every token a user holds", _revoke_command)
    revoke.add_argument("target", metavar="USER", help="whose tokens to revoke")
    _admin_command(commands, "reload", "re-read the served descriptor and products", _reload_command)
    refresh = _admin_command(commands, "refresh", "ask the engines again for their tables' schemas",
                             _refresh_command)
    refresh.add_argument("product", metavar="PRODUCT", nargs="?",
                         help="only this product (default: every product)")

    kill = _admin_command(commands, "kill", "cancel a running query in every engine it runs in", _kill_command,
                          who="who runs it: the query's own user, or a user holding one of auth.admin_roles")
    kill.add_argument("query_id", metavar="ID", help="the query's id (flightmesh.queries, its error messages)")

    introspect = commands.add_parser("introspect", help="write a product descriptor from an engine's tables")
    introspect.add_argument("--kind", required=True,
                            choices=("duckdb", "sqlite", "parquet", "postgresql", "mysql", "flightsql", "spark"))
    where = introspect.add_mutually_exclusive_group(required=True)
    where.add_argument("--uri", help="a server engine: postgresql://, mysql://, grpc://, grpc+tls:// or sc:// (spark)")
    where.add_argument("--path", type=Path, help="a file engine: a DuckDB or SQLite file, a Parquet folder")
    introspect.add_argument("--product", required=True, metavar="NAME", help="the product's name")
    introspect.add_argument("--tables", action="append", default=[], metavar="GLOB",
                            help="only tables matching GLOB (engine or exposed name; repeatable)")
    introspect.add_argument("--username", help="flightsql: the remote user")
    introspect.add_argument("--password", help="the engine's password (written as ${NAME_PASSWORD})")
    introspect.add_argument("--token", help="spark: the Spark Connect bearer token (written as ${NAME_TOKEN})")
    introspect.add_argument("-o", "--output", type=Path, metavar="FILE",
                            help="where to write it, e.g. products/NAME.yaml (default: stdout)")
    introspect.set_defaults(run=_introspect_command)

    demo = commands.add_parser("demo", help="write the demo mesh and serve it")
    demo.add_argument("directory", metavar="DIR", type=Path, nargs="?", default=Path("flightmesh-demo"),
                      help="where to write it (default ./flightmesh-demo; rewritten on every run)")
    _listen_options(demo)
    demo.set_defaults(run=_demo_command)
    return parser


def _allow_unavailable_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-unavailable", action="store_true",
                        help="an engine that cannot be reached leaves its product unavailable (retried "
                             "by later queries) instead of refusing the mesh")


def _listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8815, help="port to listen on; 0 picks a free one")


# -- serve, demo -----------------------------------------------------------------------------------


def _serve_command(args: argparse.Namespace) -> int:
    _serve(args.descriptor, args.host, args.port, allow_unavailable=args.allow_unavailable)
    return 0


def _demo_command(args: argparse.Namespace) -> int:
    try:
        from flightmesh.server.demo import write_demo
    except ImportError as error:
        raise CommandError(f"the demo is not available: {error}") from None
    try:
        descriptor, users = write_demo(args.directory)
    except OSError as error:
        raise CommandError(f"cannot write the demo mesh to {args.directory}: {error}") from None
    print(f"demo mesh written to {descriptor}")
    print("users (user / password):")
    for user, password in users.items():
        print(f"  {user} / {password}")
    if users:
        user, password = next(iter(users.items()))
        uri = f"grpc://{args.host}:{args.port}" if args.port else "grpc://HOST:PORT"
        print(f'try: flightmesh query --uri {uri} --user {user} --password {password} "SELECT 42"')
    _serve(descriptor, args.host, args.port)
    return 0


def _serve(descriptor: Path, host: str, port: int, out: TextIO | None = None, *,
           allow_unavailable: bool = False) -> None:
    from flightmesh.executor import MeshRuntime

    from .app import FlightMeshServer
    from .lifecycle import PortInUse, require_free_port, serve_until_stopped, shutdown_within
    from .query_log import configure

    out = out or sys.stdout
    configure("INFO")  # JSON lines on stderr; the descriptor's log_level once it is read
    _require_file(descriptor)
    try:
        require_free_port(host, port)  # before the engines are opened: fail fast, naming the port
    except PortInUse as error:
        raise CommandError(str(error)) from None
    with MeshRuntime.open(descriptor, allow_unavailable=allow_unavailable) as runtime:
        configure(runtime.settings.log_level)
        try:
            server = FlightMeshServer(runtime, f"grpc://{host}:{port}")
        except PortInUse as error:
            raise CommandError(str(error)) from None
        except Exception as error:
            raise CommandError(f"cannot listen on {host}:{port}: {_first_line(str(error))}") from None
        server.settle_memory()  # the opened mesh frozen for the garbage collector (server/gc_settle.py)
        clean = True
        try:

            def announce() -> None:
                catalog = runtime.catalog
                for product, reason in catalog.unavailable.items():
                    print(f"warning: product {product} is unavailable: {reason}", file=sys.stderr)
                tables = sum(1 for _ in _published_tables(runtime))
                side = (f"; web console, /health and /metrics on http://{host}:{server.http.port}"
                        if server.http else "")
                print(f"flightmesh: serving mesh {catalog.name!r} ({len(_published(runtime))} products, "
                      f"{tables} tables) on grpc://{host}:{server.port}{side}; Ctrl-C stops", file=out, flush=True)

            def cancel_running() -> int:
                running = server.tickets.running()
                for result in running:
                    result.scope.cancel()
                return len(running)

            # SIGTERM drains (settings.drain_seconds), SIGINT stops now, kill -HUP reloads the descriptor
            # (a refusal is logged, the mesh stays).
            serve_until_stopped(server.operations.lifecycle, drain_seconds=runtime.settings.drain_seconds,
                                cancel_running=cancel_running, reload=server.reload_mesh, announce=announce)
        finally:
            clean = shutdown_within(server)
        if not clean:  # the streams still blocked get their query lines (cancelled) before the exit
            server.operations.finish_unfinished()
    print("flightmesh: stopped", file=out, flush=True)
    if not clean:
        # A gRPC write still blocked (its client stopped reading) would hold the interpreter's exit
        # forever; the runtime is closed and every query cancelled, so nothing is left to finish.
        sys.stderr.flush()
        os._exit(0)


# -- check -----------------------------------------------------------------------------------------


def _check_command(args: argparse.Namespace) -> int:
    if args.settings:
        defaults = Settings()
        for name, (meaning, minimum) in SETTINGS_DOCS.items():
            bound = f", at least {minimum}" if minimum is not None else ""
            print(f"{name} (default {getattr(defaults, name)!r}{bound})\n    {meaning}")
        if args.descriptor is None:
            return 0
    if args.descriptor is None:
        raise CommandError("check needs a MESH.yaml (or --settings)")
    from flightmesh.executor import MeshRuntime

    _require_file(args.descriptor)
    with MeshRuntime.open(args.descriptor, allow_unavailable=args.allow_unavailable) as runtime:
        catalog = runtime.catalog
        tables = list(_published_tables(runtime))
        print(f"mesh {catalog.name!r}: {len(_published(runtime))} products, {len(tables)} tables, "
              f"{len(runtime.spec.users)} users")
        for product in _published(runtime):
            print(f"  {product.name} ({product.engine.kind})")
            if product.name in catalog.unavailable:
                print(f"    UNAVAILABLE: {catalog.unavailable[product.name]}")
                continue
            for table in tables:
                if table.product == product.name:
                    print(f"    {table.name} ({len(table.schema)} columns)")
        for warning in runtime.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        for product, reason in catalog.unavailable.items():
            print(f"warning: product {product} is unavailable: {reason}", file=sys.stderr)
        if catalog.unavailable and not args.allow_unavailable:
            raise CommandError(f"{len(catalog.unavailable)} product(s) unavailable: "
                               f"{', '.join(sorted(catalog.unavailable))}")
    print("OK")
    return 0


# -- query, explain ----------------------------------------------------------------------------------


def _query_command(args: argparse.Namespace) -> int:
    import adbc_driver_manager

    sql = f"EXPLAIN {args.sql}" if args.explain else args.sql
    password = _password(args.user, args.password)
    table = None
    try:
        connection = _connect(args.uri, args.user, password)
    except adbc_driver_manager.Error as error:
        raise CommandError(f"cannot connect to {args.uri} as {args.user}: {_client_message(error)}") from None
    try:
        with connection, connection.cursor() as cursor:
            table = _read_streams(cursor, sql)
    except adbc_driver_manager.Error as error:
        raise CommandError(_client_message(error)) from None
    print(format_explain(table) if args.explain else format_table(table, max_rows=args.max_rows))
    footer = privacy_footer(table.schema)
    if footer and not args.explain:
        print(footer)
    return 0


def _read_streams(cursor: Any, sql: str) -> Any:
    """The result read endpoint by endpoint, each table with its own stream's schema.

    ``execute`` + ``fetch_arrow_table`` hands back the GetFlightInfo schema; a privacy-mode result
    learns its remaining budget only when DoGet reserves the spend, so only the streams carry it.
    """
    import pyarrow as pa

    partitions, schema = cursor.adbc_execute_partitions(sql)
    tables = []
    for partition in partitions:
        cursor.adbc_read_partition(partition)
        tables.append(cursor.fetch_arrow_table())
    if not tables:
        return schema.empty_table() if schema is not None else pa.table({})
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables).replace_schema_metadata(tables[-1].schema.metadata)


def _admin_command(commands: Any, name: str, what: str, run: Callable[[argparse.Namespace], int],
                   who: str = "") -> Any:
    """A subcommand that runs an administrator's action on a server: ``--user``, ``--password``, ``--uri``.

    ``who``: who else may run it (kill: the query's own user too); default administrators only."""
    command = commands.add_parser(name, help=f"{what} ({'an administrator' if not who else 'a user'}'s action)")
    command.add_argument("--user", "-u", dest="admin", required=True, metavar="ADMIN" if not who else "USER",
                         help=who or "who runs it: a user holding one of auth.admin_roles")
    command.add_argument("--password", "-p", help=f"ADMIN's password (default: ${PASSWORD_VARIABLE}, else a prompt)")
    command.add_argument("--uri", default=DEFAULT_URI, help=f"the server (default {DEFAULT_URI})")
    command.set_defaults(run=run)
    return command


def _admin_action(args: argparse.Namespace, action: str, body: bytes, failure: str) -> list[bytes]:
    """Log in as ``args.admin`` at ``args.uri``, run the admin ``action``; its result bodies."""
    import pyarrow as pa
    import pyarrow.flight as flight

    password = _password(args.admin, args.password)
    client = flight.connect(args.uri)
    try:
        header = client.authenticate_basic_token(args.admin, password)
        options = flight.FlightCallOptions(headers=[header])
        return [result.body.to_pybytes() for result in client.do_action(flight.Action(action, body), options)]
    except pa.ArrowException as error:  # Flight statuses, and INVALID_ARGUMENT as ArrowInvalid
        raise CommandError(f"{failure}: {_flight_message(error)}") from None
    finally:
        client.close()


def _revoke_command(args: argparse.Namespace) -> int:
    _admin_action(args, "revoke_tokens", json.dumps({"user": args.target}).encode(),
                  f"cannot revoke the tokens of {args.target}")
    print(f"every token of {args.target} issued until now is refused; logging in again gives a new one")
    return 0


def _kill_command(args: argparse.Namespace) -> int:
    results = _admin_action(args, "kill", args.query_id.encode(), f"cannot kill query {args.query_id}")
    reply = json.loads(results[0]) if results else {}
    print(f"query {reply.get('query_id', args.query_id)} of {reply.get('user', '?')} killed: its engines' "
          "queries are cancelled")
    return 0


def _refresh_command(args: argparse.Namespace) -> int:
    body = json.dumps({"product": args.product}).encode() if args.product else b""
    results = _admin_action(args, "refresh", body, f"cannot refresh {args.product or 'the products'}")
    reply = json.loads(results[0]) if results else {}
    changed = reply.get("changed") or []
    print(f"schemas changed: {', '.join(changed)}" if changed else "no schema changed")
    for product in reply.get("unavailable") or []:
        print(f"unavailable: {product}")
    return 0


def _reload_command(args: argparse.Namespace) -> int:
    results = _admin_action(args, "reload", b"", "cannot reload the mesh")
    reply = json.loads(results[0]) if results else {}
    if not reply.get("reloaded"):
        print("flightmesh: reload refused, the running mesh is unchanged", file=sys.stderr)
        raise DescriptorError(reply.get("problems") or ["the server gave no reason"])
    print(f"mesh reloaded: {reply.get('summary', '')}")
    return 0


_FLIGHT_NOISE = [
    re.compile(r"^Flight returned [\w ]+ error, with message: "),
    re.compile(r"\. (gRPC client debug context|Detail|Client context): .*", re.DOTALL),
]


def _flight_message(error: Exception) -> str:
    """A pyarrow Flight error as one line: the server's message, without transport noise."""
    message = str(error)
    for noise in _FLIGHT_NOISE:
        message = noise.sub("", message)
    return _first_line(message)


def _connect(uri: str, user: str, password: str) -> Any:
    import adbc_driver_flightsql.dbapi as dbapi

    # autocommit: flightmesh has no transactions, and asking for them only produces a warning.
    return dbapi.connect(uri, db_kwargs={"username": user, "password": password}, autocommit=True)


def _password(user: str, given: str | None) -> str:
    if given is not None:
        return given
    from_environment = os.environ.get(PASSWORD_VARIABLE)
    if from_environment is not None:
        return from_environment
    if sys.stdin.isatty():
        return getpass.getpass(f"password for {user}: ")
    raise CommandError(f"no password: pass --password or set {PASSWORD_VARIABLE}")


_NOISE = [
    re.compile(r"\[Flight ?SQL\] ?"),
    re.compile(r"\. Detail: .*", re.DOTALL),  # pyarrow's detail text (a server traceback)
    re.compile(r" \(\w+; [\w()]+\)(\. Vendor code: \d+)?$"),  # ADBC's "(InvalidArgument; Prepare)"
]


def _client_message(error: Exception) -> str:
    """An ADBC error as one line: status and the server's message, without transport noise."""
    message = str(error)
    for noise in _NOISE:
        message = noise.sub("", message)
    return _first_line(message)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def _published(runtime: Any) -> list[Any]:
    """The products the mesh serves, without the discovery schemas every mesh has (mesh, information_schema)."""
    return [product for product in runtime.spec.products.values() if not product.access.public]


def _published_tables(runtime: Any) -> list[Any]:
    names = {product.name for product in _published(runtime)}
    return [table for table in runtime.catalog.all_tables() if table.product in names]


def _require_file(descriptor: Path) -> None:
    if not descriptor.is_file():
        raise CommandError(f"no such mesh descriptor: {descriptor}")


# -- introspect ------------------------------------------------------------------------------------


def _introspect_command(args: argparse.Namespace) -> int:
    from flightmesh.connectors.introspect import descriptor_yaml, introspect

    try:
        product = introspect(args.kind, args.product, uri=args.uri, path=args.path, tables=args.tables,
                             username=args.username, password=args.password, token=args.token)
    except ValueError as error:
        raise CommandError(str(error)) from None
    if not product.tables:
        raise CommandError(f"the {args.kind} engine has no tables" + (" matching --tables" if args.tables else ""))
    command = ["flightmesh", "introspect", "--kind", args.kind, "--product", args.product]
    command += ["--uri", product.engine["uri"]] if args.uri else ["--path", str(args.path)]
    command += [part for glob in args.tables for part in ("--tables", glob)]
    text = descriptor_yaml(product, command=" ".join(command))
    if args.output is None:
        sys.stdout.write(text)
    else:
        try:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text)
        except OSError as error:
            raise CommandError(f"cannot write {args.output}: {error}") from None
        print(f"product {args.product}: {len(product.tables)} table(s) written to {args.output}")
    for note in product.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
