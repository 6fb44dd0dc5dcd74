"""The DuckDB-scanner peer: DuckDB 1.5.5 federating the TPC-H split with its own scanners.

``PeerProcess.start(mesh)`` makes (once) a separate virtualenv under ``benchmarks/data/peer-venv``
with DuckDB 1.5.5 and the PyPI packages ``duckdb-extension-postgres-scanner`` and
``duckdb-extension-sqlite-scanner`` 1.5.5 (DuckDB 2.x cannot load them), plus pyarrow to hand
results back. It runs ``benchmarks/peer_worker.py`` there as a subprocess that ATTACHes the split's
PostgreSQL database, SQLite file and DuckDB data under the products' names, so the mesh's
qualified query text runs unchanged; each query is timed inside that process.

The DuckDB product's file is written by DuckDB 2.x, whose storage DuckDB 1.5 cannot read, so the
peer gets its own copy of the same two tables, built by DuckDB 1.5.5 from the same generated
Parquet with the same typed SELECT (``peer/sales.duckdb`` beside the mesh, made once).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / "benchmarks" / "data" / "peer-venv"
WORKER = REPO / "benchmarks" / "peer_worker.py"
PEER_DUCKDB = "1.5.5"
REQUIREMENTS = (f"duckdb=={PEER_DUCKDB}", f"duckdb-extension-postgres-scanner=={PEER_DUCKDB}",
                f"duckdb-extension-sqlite-scanner=={PEER_DUCKDB}", f"pyarrow=={pa.__version__}")
_STAMP = json.dumps(REQUIREMENTS)


class PeerError(RuntimeError):
    """The peer failed a request (its message says why) or did not answer in time."""


def ensure_venv(folder: Path = VENV) -> Path:
    """The peer venv's python, creating the venv and installing the pinned packages if needed."""
    python = folder / "bin" / "python"
    stamp = folder / ".requirements"
    if python.exists() and stamp.is_file() and stamp.read_text() == _STAMP:
        return python
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           *REQUIREMENTS], capture_output=True, text=True)
    if done.returncode != 0:             # pip's warnings are noise unless it failed
        raise RuntimeError(f"could not install the peer's packages: {done.stderr[-2000:]}")
    stamp.write_text(_STAMP)
    return python


class PeerProcess:
    """One worker process in the peer venv; requests and answers are JSON lines."""

    def __init__(self, process: subprocess.Popen[str], scratch: Path) -> None:
        self.process = process
        self.scratch = scratch
        self.version = ""

    @classmethod
    def start(cls, python: Path) -> PeerProcess:
        scratch = Path(tempfile.mkdtemp(prefix="flightmesh-peer-"))
        process = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, cwd=scratch)
        return cls(process, scratch)

    def request(self, timeout: float, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(fields) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.close()                      # a query past the limit: the worker is stopped
            raise PeerError(f"no answer within {timeout:g} s")
        line = self.process.stdout.readline()
        if not line:
            raise PeerError("the peer process ended")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise PeerError(str(answer.get("error")))
        return answer

    def build_duckdb(self, path: Path, tables: dict[str, str]) -> None:
        self.request(3600, op="build", path=str(path), tables=tables)

    def attach(self, catalogs: list[tuple[str, str, str]]) -> None:
        self.version = str(self.request(120, op="attach", catalogs=catalogs).get("duckdb", ""))

    def run(self, sql: str, timeout: float = 600) -> tuple[float, pa.Table]:
        """(seconds inside the peer, the result)."""
        out = self.scratch / "result.arrow"
        answer = self.request(timeout, op="run", sql=sql, out=str(out))
        with pa.memory_map(str(out)) as source:
            table = pa.ipc.open_file(source).read_all()
        return float(answer["seconds"]), table

    def peak_memory(self) -> int:
        return int(self.request(30, op="memory")["bytes"])

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for file in self.scratch.iterdir():
            file.unlink()
        self.scratch.rmdir()


def peak_rss(pid: int) -> int:
    """Peak resident memory (VmHWM) of process ``pid`` so far, in bytes; 0 where /proc has none."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def mib(count: int) -> str:
    return f"{count / 2**20:.0f} MiB"


if __name__ == "__main__":            # `python benchmarks/peer.py`: make the venv and say where
    print(ensure_venv())
    sys.exit(0 if os.path.exists(VENV) else 1)
