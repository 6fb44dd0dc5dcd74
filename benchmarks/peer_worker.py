"""The DuckDB-scanner peer's side: runs inside the peer venv (DuckDB 1.5.5 + its scanners).

    <peer-venv>/bin/python benchmarks/peer_worker.py

Standard library, duckdb and pyarrow only: this file never imports the project, whose DuckDB is
2.x. It reads one JSON request per line on stdin and answers one JSON line on stdout:

* ``{"op": "build", "path": P, "tables": {name: select_sql}}``: writes a DuckDB file of this
  version at P (DuckDB 1.5 cannot read the 2.x files of the mesh), from the same source.
* ``{"op": "attach", "catalogs": [[name, target, kind], ...]}``: loads the scanner extensions
  shipped by the PyPI packages and ATTACHes each engine read-only under its product's name, so
  the mesh's ``product.table`` names resolve as ``catalog.table`` here.
* ``{"op": "run", "sql": S, "out": F}``: runs S, timed here (query to Arrow table), and writes the
  table to F as an Arrow IPC file for the caller to compare with the oracle.
* ``{"op": "memory"}``: this process's peak resident memory (VmHWM), in bytes.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
import traceback

import duckdb
import pyarrow as pa

EXTENSION_PACKAGES = ("duckdb_extension_postgres_scanner", "duckdb_extension_sqlite_scanner")
KINDS = {"postgres": "POSTGRES", "sqlite": "SQLITE", "duckdb": None}


def extension_files() -> list[str]:
    """The ``.duckdb_extension`` files inside the installed extension packages."""
    import importlib

    found = []
    for name in EXTENSION_PACKAGES:
        package = importlib.import_module(name)
        folder = os.path.dirname(package.__file__ or "")
        files = glob.glob(os.path.join(folder, "extensions", "*", "*.duckdb_extension"))
        if not files:
            raise RuntimeError(f"{name} ships no extension file")
        found.append(files[0])
    return found


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build(path: str, tables: dict[str, str]) -> None:
    partial = path + ".partial"
    if os.path.exists(partial):
        os.remove(partial)
    connection = duckdb.connect(partial)
    try:
        for name, select in tables.items():
            connection.execute(f'CREATE TABLE "{name}" AS {select}')
        connection.execute("CHECKPOINT")
    finally:
        connection.close()
    os.replace(partial, path)


def peak_memory() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    connection = duckdb.connect()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            op = request["op"]
            answer: dict[str, object] = {"ok": True}
            if op == "build":
                build(request["path"], request["tables"])
            elif op == "attach":
                for file in extension_files():
                    connection.execute(f"LOAD {quoted(file)}")
                for name, target, kind in request["catalogs"]:
                    options = f"TYPE {KINDS[kind]}, READ_ONLY" if KINDS[kind] else "READ_ONLY"
                    connection.execute(f'ATTACH {quoted(target)} AS "{name}" ({options})')
                answer["duckdb"] = duckdb.__version__
            elif op == "run":
                started = time.perf_counter()
                table = connection.sql(request["sql"]).to_arrow_table()
                answer["seconds"] = time.perf_counter() - started
                with pa.OSFile(request["out"], "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                    writer.write_table(table)
            elif op == "memory":
                answer["bytes"] = peak_memory()
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as error:  # answered, not raised: the caller reports it per query
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}",
                      "trace": traceback.format_exc(limit=3)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
