"""The exchange: fragment results written as Parquet where a Spark merge engine can read them.

Spark Connect takes no Arrow upload through the ADBC driver (bulk ingest is not implemented), so,
as Trino's spooling exchange does, each fragment's stream is written to storage the cluster
reads: a local folder for a cluster on this machine (Sail in local or local-cluster mode), a
shared URI in production (``s3://bucket/prefix``, ``gs://``, ``hdfs://``: written with pyarrow's
file systems, read by the cluster under the same name). Each query writes into a folder of its
own (``<exchange>/<query uuid>/f0/part-0.parquet``), removed when the query ends, fails or is
cancelled; a folder the exchange made itself is removed when the merge engine closes.

Columns are written positionally (``c0``, ``c1``...): the residual re-names them, so no column
name of a product (spaces, commas, case) meets Parquet's or Spark's rules on names. Batches are
written as they arrive, one thread per fragment, so the engines keep computing concurrently and
no fragment is held in memory whole.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from flightmesh.mesh import CancelScope, DescriptorError, EngineError, QueryCancelled

__all__ = ["Exchange", "QueryExchange"]


class Exchange:
    def __init__(self, where: str) -> None:
        self._own = not where
        if not where:
            where = tempfile.mkdtemp(prefix="flightmesh-exchange-")
        try:
            if "://" in where:
                self._fs, root = pafs.FileSystem.from_uri(where)
                self._prefix = where.rstrip("/")
            else:
                self._fs, root = pafs.LocalFileSystem(), str(Path(where).resolve())
                self._prefix = root
            self._root = root.rstrip("/")
            self._fs.create_dir(self._root, recursive=True)
        except (OSError, pa.ArrowException) as error:
            # The message names the setting, not the server's own paths or the storage's answer.
            raise DescriptorError([f"settings.merge_engine.exchange: cannot use it ({type(error).__name__})"]) from None

    def query(self) -> QueryExchange:
        """A folder of its own for one query's fragments."""
        name = uuid.uuid4().hex
        return QueryExchange(self._fs, f"{self._root}/{name}", f"{self._prefix}/{name}")

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self._root, ignore_errors=True)


class QueryExchange:
    """One query's fragments in the exchange: written, located for Spark, then removed."""

    def __init__(self, fs: pafs.FileSystem, path: str, uri: str) -> None:
        self._fs = fs
        self._path = path
        self._uri = uri
        self._removed = False
        self._lock = threading.Lock()
        self._names: dict[str, tuple[str, ...]] = {}

    def write(self, readers: Mapping[str, Callable[[], pa.RecordBatchReader]],
              cancel: CancelScope) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Write every fragment (concurrently); name -> (folder the cluster reads, column names)."""
        failures: list[BaseException] = []
        threads = []
        for name, open_reader in readers.items():
            thread = threading.Thread(target=self._write_one, args=(name, open_reader, failures, cancel),
                                      name=f"exchange-{name}", daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        causes = [failure for failure in failures if not isinstance(failure, QueryCancelled)] or failures
        if causes:
            cause = causes[0]
            if isinstance(cause, (OSError, pa.ArrowException)):
                # Storage failed (full, refused): the client learns that, the log the storage's text.
                raise EngineError("merge", "the merge engine's exchange could not be written",
                                  internal=str(cause)) from None
            raise cause
        cancel.check()
        return {name: (f"{self._uri}/{name}", names) for name, names in self._names.items()}

    def _write_one(self, name: str, open_reader: Callable[[], pa.RecordBatchReader],
                   failures: list[BaseException], cancel: CancelScope) -> None:
        try:
            reader = open_reader()
            schema = reader.schema
            positional = pa.schema([pa.field(f"c{i}", item.type) for i, item in enumerate(schema)])
            folder = f"{self._path}/{name}"
            self._fs.create_dir(folder, recursive=True)
            with self._fs.open_output_stream(f"{folder}/part-0.parquet") as sink, \
                    pq.ParquetWriter(sink, positional) as writer:
                for batch in reader:
                    cancel.check()
                    writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=positional))
            with self._lock:
                self._names[name] = tuple(schema.names)
        except BaseException as error:
            failures.append(error)
            cancel.cancel()  # the other fragments stop too

    def remove(self) -> None:
        with self._lock:
            if self._removed:
                return
            self._removed = True
        with contextlib.suppress(OSError, pa.ArrowException):
            self._fs.delete_dir(self._path)
