"""Server settings: one table, each entry documented, all optional in the descriptor.

In ``mesh.yaml`` they live under ``settings:``; every key below may be given, none is required::

    settings:
      fragment_timeout_seconds: 120
      dynamic_filter_max_keys: 50000
      merge_engine: {kind: spark, uri: "sc://spark.internal:15002", exchange: "s3://bucket/flightmesh-exchange"}

``Settings`` holds names, types and defaults; ``DOCS`` says what each one does and its lower
bound. ``flightmesh check --settings`` prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["DOCS", "MERGE_ENGINE_KINDS", "MergeEngineChoice", "Settings"]


MERGE_ENGINE_KINDS = ("duckdb", "spark", "sail")
_MERGE_ENGINE_KEYS = ("kind", "uri", "exchange", "token", "tls", "mode", "workers")
SAIL_MODES = ("local", "local-cluster")


@dataclass(frozen=True)
class MergeEngineChoice:
    """Where a plan's residual runs: the embedded DuckDB, or a Spark Connect cluster (``spark``/``sail``).

    ``exchange`` is where fragment results are written (as Parquet) for the cluster to read: a local
    folder, or a URI pyarrow writes and the cluster reads under the same name (``s3://``, ``gs://``,
    ``hdfs://``). Empty: a folder in this machine's temporary directory (a cluster on this machine).
    ``mode`` (``local`` or ``local-cluster`` with ``workers``), for ``kind: sail`` without a ``uri``:
    a Sail server the mesh starts in its own process (pysail), stopped when the mesh closes.
    """

    kind: str = "duckdb"
    uri: str = ""
    exchange: str = ""
    token: str = field(default="", repr=False)
    tls: bool | None = None
    mode: str = ""
    workers: int = 2

    @staticmethod
    def problem(value: Any) -> str | None:
        """Why ``value`` is not a merge engine mapping, or None when it is."""
        if not isinstance(value, dict):
            return f"expected a mapping such as {{kind: duckdb}}, got {value!r}"
        unknown = sorted(set(value) - set(_MERGE_ENGINE_KEYS))
        if unknown:
            return f"unknown key {unknown[0]!r}; expected one of {', '.join(_MERGE_ENGINE_KEYS)}"
        kind = value.get("kind", "duckdb")
        if kind not in MERGE_ENGINE_KINDS:
            return f"kind: expected one of {', '.join(MERGE_ENGINE_KINDS)}, got {kind!r}"
        for key in ("uri", "exchange", "token"):
            if not isinstance(value.get(key, ""), str):
                return f"{key}: expected text, got {value[key]!r}"
        if not isinstance(value.get("tls", False), bool):
            return f"tls: expected true or false, got {value['tls']!r}"
        workers = value.get("workers", 2)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            return f"workers: expected a whole number of at least 1, got {workers!r}"
        if kind == "duckdb":
            extra = sorted(set(value) - {"kind"})
            return f"{extra[0]}: the embedded duckdb merge engine takes no options" if extra else None
        mode = value.get("mode", "")
        if mode:
            if kind != "sail" or value.get("uri"):
                return "mode: only for kind: sail without a uri (a Sail started in the mesh's process)"
            if mode not in SAIL_MODES:
                return f"mode: expected one of {', '.join(SAIL_MODES)}, got {mode!r}"
            if "workers" in value and mode != "local-cluster":
                return "workers: only with mode: local-cluster"
            return None
        if not str(value.get("uri", "")).startswith("sc://"):
            return f"uri: a {kind} merge engine needs uri: sc://host:port" + (
                " (or mode: local | local-cluster to start one in this process)" if kind == "sail" else "")
        return None

    @classmethod
    def from_mapping(cls, value: dict[str, Any]) -> MergeEngineChoice:
        return cls(**{key: value[key] for key in _MERGE_ENGINE_KEYS if key in value})

    @property
    def delegated(self) -> bool:
        return self.kind != "duckdb"


@dataclass(frozen=True)
class Settings:
    query_timeout_seconds: float = 600.0
    fragment_timeout_seconds: float = 300.0
    dynamic_filter_max_keys: int = 100_000
    dynamic_filter_min_probe_rows: int = 10_000
    dynamic_filter_max_literal_keys: int = 5_000
    dynamic_filter_wait_seconds: float = 5.0
    # Early keys (planner/early_keys.py), off by default: on this 2-core machine shared with other
    # work, the keys-only read and the probe it starts early compete with the build for the cores,
    # and the build stays on the critical path. Through the server, two servers alternated, 7 and
    # 9 rounds at load ~4.8: TPC-H q09 393/332 and 505/290 ms (on/off), q02 62/54 and 57/56 ms.
    dynamic_filter_early_keys: int = 0
    pre_aggregate_min_rows: int = 10_000
    # Partitioned reads, two ranges by default. Earlier measurements found no gain because each
    # range waited for the one before to finish its first batch (fixed in executor/execute.py:
    # FragmentQuery.on_connection). Through the server, alternated with a server of the code
    # before the fix, medians of 11-15 at load ~0.5-1: TPC-H SF 1 q11 72.7 -> 50.3 ms, q16
    # 178.6 -> 150.2, q09 238.4 -> 203.0, q20 82.9 -> 75.4; broad.py SF 1 (three servers, 5
    # rounds) b18 342 -> 242, b22 388 -> 282, b17 541 -> 452, b21 489 -> 413. Two, not the
    # cores: the merge and the engine need cores too.
    partitioned_read_max: int = 2
    partitioned_read_min_rows: int = 20_000
    late_rows_max_limit: int = 1_000
    # Eager aggregation in the merge (planner/eager_residual.py), off by default: broad.py b17's
    # residual alone ran 150.7 -> 69.6 ms, but through the server the query did not get faster
    # (b17 median 369 against 399 ms, in-process 556-601 against 527-932 ms, alternated rounds on
    # this loaded machine): the merge works while MariaDB's 900,000 rows stream in, and that read
    # is the critical path. It also adds ~3 ms of planning where it applies.
    merge_pre_aggregate_percent: int = 0
    merge_memory_limit: str = "4GB"
    merge_threads: int = 2
    plan_cache_size: int = 512
    pool_size: int = 4
    token_ttl_seconds: float = 8 * 3600.0
    ticket_ttl_seconds: float = 900.0
    table_type_case: str = "lower"
    batch_rows: int = 65_536
    login_max_failures: int = 10
    login_failure_window_seconds: float = 300.0
    login_lockout_seconds: float = 60.0
    audit_statement_max_chars: int = 4096
    max_statement_chars: int = 262_144
    max_statement_nodes: int = 20_000
    max_parameter_rows: int = 1_000
    max_generated_values: int = 1_000_000
    planning_timeout_seconds: float = 10.0
    schema_refresh_seconds: float = 60.0
    statistics_refresh_seconds: float = 600.0
    contract_check_seconds: float = 300.0
    http_port: int = -1
    log_level: str = "INFO"
    drain_seconds: float = 30.0
    merge_spill_limit: str = "10GB"
    merge_spill_directory: str = ""
    max_running_queries: int = 32
    max_queued_queries: int = 128
    max_queries_per_user: int = 0
    max_queue_wait_seconds: float = 30.0
    merge_idle_seconds: float = 10.0
    otel_exporter: str = ""
    otel_endpoint: str = ""
    grpc_health_port: int = -1
    merge_engine: MergeEngineChoice = MergeEngineChoice()

    @staticmethod
    def check(name: str, value: Any) -> str | None:
        """Why ``value`` is not acceptable for setting ``name``, or None when it is."""
        known = _FIELDS.get(name)
        if known is None:
            return f"unknown setting; expected one of {', '.join(sorted(_FIELDS))}"
        if name == "merge_engine":
            return MergeEngineChoice.problem(value)
        expected = _TYPES[name]
        if isinstance(value, bool) or not isinstance(value, (int, float) if expected is float else expected):
            return f"expected {expected.__name__}, got {value!r}"
        minimum = DOCS[name][1]
        if minimum is not None and isinstance(value, (int, float)) and value < minimum:
            return f"expected at least {minimum}, got {value!r}"
        if name == "table_type_case" and value not in ("upper", "lower"):
            return f"expected 'upper' or 'lower', got {value!r}"
        if name == "otel_exporter" and value not in ("", "console", "otlp"):
            return f"expected '', 'console' or 'otlp', got {value!r}"
        if name == "log_level" and str(value).upper() not in LOG_LEVELS:
            return f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}"
        return None

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Settings:
        """Build from values already accepted by ``check``."""
        return cls(**{name: _TYPES[name](value) for name, value in values.items()})


# name -> (what it does, lower bound or None)
DOCS: dict[str, tuple[str, float | None]] = {
    "query_timeout_seconds": (
        "Wall-clock limit for one query, planning to last batch; the engines' queries are cancelled "
        "when it passes.", 0.001),
    "fragment_timeout_seconds": ("Limit for one fragment inside its engine.", 0.001),
    "dynamic_filter_max_keys": (
        "A join side with at most this many distinct keys has them pushed into the other side's "
        "fragment (dynamic filtering, as in Trino). 0 turns it off.", 0),
    "dynamic_filter_min_probe_rows": (
        "A fragment expected to return fewer rows than this does not wait for keys: reading it is "
        "cheaper than waiting.", 0),
    "dynamic_filter_max_literal_keys": (
        "Engines that take keys only as SQL literals get an IN-list up to this many keys, and a "
        "range (BETWEEN min AND max) above it.", 0),
    "dynamic_filter_wait_seconds": (
        "How long a large fragment waits for the small side's keys before starting without them.", 0.0),
    "dynamic_filter_early_keys": (
        "1: a build fragment that joins tables inside its engine lends a dynamic filter's keys from "
        "a statement on the key column's own table, started at once, instead of from its whole join "
        "(a superset of the keys; planner/early_keys.py). 0, the default, turns it off: it pays only "
        "where cores are free for the build, the keys-only read and the probe at once.", 0),
    "pre_aggregate_min_rows": (
        "A fragment expected to return at least this many rows aggregates before a cross-engine "
        "join when the query's aggregates all read it (0: always, when correct).", 0),
    "partitioned_read_max": (
        "At most this many disjoint key ranges one fragment is read as, concurrently, on engines that "
        "declare partitioned reads (SQLite, MariaDB/MySQL), and never more than the engine's pool_size "
        "less the query's other fragments there. 1 turns it off; more than the 2 of the default pays "
        "only where cores are free for the engine, the readers and the merge at once.", 1),
    "partitioned_read_min_rows": (
        "A fragment is read in partitions only when it is expected to return at least this many rows, "
        "or is a read of one table that scans that many (smaller ones cost more in extra statements "
        "than they gain).", 0),
    "merge_pre_aggregate_percent": (
        "Eager aggregation in the merge: a fragment and the fragments that only filter it are joined "
        "and grouped before the other joins when the groups are expected to be at most this percent "
        "of the fragment's rows (0, the default: off).", 0),
    "late_rows_max_limit": (
        "A query ending in ORDER BY ... LIMIT n (n plus OFFSET at most this) reads a keyed table's wide "
        "columns only for the rows it keeps: the top rows are found on the key first, then those keys' "
        "columns are read (late materialization). 0 turns it off.", 0),
    "merge_memory_limit": (
        "Memory limit of one query's merge (the embedded DuckDB that joins fragments; each running query "
        "merges in an instance of its own), e.g. '4GB'. Past it the merge spills to merge_spill_directory.", None),
    "merge_threads": ("Threads of the embedded DuckDB that joins fragments.", 1),
    "plan_cache_size": ("Plans kept in the plan cache (0 turns caching off).", 0),
    "pool_size": ("Connections kept per product engine (server engines).", 1),
    "token_ttl_seconds": ("Lifetime of a bearer token issued at handshake.", 1.0),
    "ticket_ttl_seconds": (
        "How long a result's ticket may be redeemed (DoGet) after GetFlightInfo. A redeemed ticket is "
        "remembered that long to refuse its replay, so this bounds that memory too.", 1.0),
    "table_type_case": (
        "How GetTables spells table types: 'lower' (table), which sqlalchemy-adbc (Superset) needs "
        "and JDBC clients accept, or 'upper' (TABLE). Filters match either case.", None),
    "batch_rows": ("Rows per record batch produced by the merge engine.", 1),
    "login_max_failures": (
        "Failed logins (passwords, identity-provider tokens) of one user, or from one client address, "
        "within login_failure_window_seconds after which that user or address is refused without a "
        "check for login_lockout_seconds. 0 turns the throttle off.", 0),
    "login_failure_window_seconds": ("How long a failed login counts towards login_max_failures.", 1.0),
    "login_lockout_seconds": (
        "How long a throttled user or address is refused; doubles on each further lock, up to 16x, "
        "and is forgotten after a quiet 16x.", 0.1),
    "audit_statement_max_chars": (
        "Characters of a statement (and of an error message or user name) kept in an audit record; the "
        "rest is cut, and statement_hash stays the SHA-256 of the full text.", 256),
    "max_statement_chars": ("Longest SQL text accepted, in characters; longer statements are refused before "
                            "parsing.", 1),
    "max_statement_nodes": ("Largest statement accepted, in syntax-tree nodes (a 200-branch UNION of simple "
                            "SELECTs is about 3,000); larger ones are refused before planning.", 1),
    "max_parameter_rows": ("Most rows of bound parameters one prepared-statement execution takes (each row "
                           "is planned and run).", 1),
    "max_generated_values": (
        "Most values one call of repeat, lpad/rpad, space or generate_series/range may build; their "
        "sizes must be literals. Bounds memory that no engine accounts for.", 1),
    "planning_timeout_seconds": (
        "Limit for planning one statement; counted in query_timeout_seconds too.", 0.001),
    "schema_refresh_seconds": (
        "How often the products' engines are asked again for their tables' schemas, on a background "
        "thread (a changed type or a new column is then announced; a query reading a dropped or renamed "
        "column gets an error naming it). The admin action refresh (flightmesh refresh) asks at once. "
        "0 turns the periodic refresh off.", 0),
    "statistics_refresh_seconds": (
        "How often the engines' statistics (row counts, distinct counts, NULL fractions, min/max) are read "
        "again, on a background thread; queries plan with the cached ones meanwhile. 0 turns the periodic "
        "refresh off (statistics are then those read when the catalog was built).", 0),
    "contract_check_seconds": (
        "How often the data contracts' quality rules and latency SLAs (products' contract:) run inside the "
        "products' engines, on a background thread; results in mesh.quality. The admin action refresh "
        "(flightmesh refresh) checks at once. 0 turns the periodic checks off.", 0),
    "max_running_queries": (
        "Queries whose results stream at the same time (admission control); the next ones wait in the "
        "queue. 0: no limit.", 0),
    "max_queued_queries": (
        "Queries that may wait for a running slot; past it a query is refused at once (UNAVAILABLE, "
        "naming this setting). 0: no queue, refuse as soon as max_running_queries are running.", 0),
    "max_queries_per_user": (
        "Queries one user may have running or queued at once; past it that user's next query is refused "
        "(UNAVAILABLE). 0: no per-user limit.", 0),
    "max_queue_wait_seconds": (
        "How long a queued query waits for a running slot before it is refused (UNAVAILABLE, naming "
        "max_running_queries).", 0.0),
    "http_port": (
        "Port of the HTTP side port serving /health (no login) and /metrics (Prometheus), on the host the "
        "Flight SQL server listens on. -1 (the default) turns it off; 0 picks a free port (the serve banner "
        "names it).", -1),
    "log_level": ("Level of the server log (JSON lines on stderr, one per query): DEBUG, INFO, WARNING or "
                  "ERROR.", None),
    "drain_seconds": (
        "On SIGTERM the server refuses new queries (UNAVAILABLE, 'draining') and lets running ones finish "
        "for up to this long; what still runs then is cancelled, and the server exits 0.", 0.0),
    "merge_spill_limit": (
        "Disk one query's merge may spill to (DuckDB's max_temp_directory_size), e.g. '10GB'; a merge that "
        "needs more fails with a clear error, and the server keeps serving.", None),
    "merge_spill_directory": (
        "Where merges spill (a folder of its own per merge instance, removed when the server stops); "
        "empty: a folder in the system's temporary directory.", None),
    "merge_idle_seconds": (
        "A merge instance (an embedded DuckDB, kept for the next query) unused for this long is closed and "
        "its memory given back to the system; 0 closes each one as soon as its query ends.", 0.0),
    "otel_exporter": (
        "OpenTelemetry spans of each query's plan, fragments and merge (flightmesh.plan, flightmesh.fragment, "
        "flightmesh.merge): '' (the default) off, at no cost; 'console' prints them; 'otlp' sends them to "
        "otel_endpoint (or the standard OTEL_EXPORTER_OTLP_* variables). Needs flightmesh[otel].", None),
    "otel_endpoint": ("Where otel_exporter 'otlp' sends spans (OTLP/HTTP), e.g. 'http://collector:4318/v1/traces'; "
                      "empty: the OTEL_EXPORTER_OTLP_* variables, or the exporter's default.", None),
    "grpc_health_port": (
        "Port of the gRPC health checking service (grpc.health.v1: SERVING, NOT_SERVING while draining), on the "
        "host the Flight SQL server listens on. -1 (the default) turns it off; 0 picks a free port.", -1),
    "merge_engine": (
        "Where the residual (the part of a plan that joins fragments of different products) runs: "
        "{kind: duckdb} (default: the embedded DuckDB), or {kind: spark|sail, uri: sc://host:port, "
        "exchange: <folder or URI>, token: ..., tls: true|false} or {kind: sail, mode: local|local-cluster, "
        "workers: N} (a Sail the mesh starts in its process): a Spark Connect cluster reading each "
        "fragment's result as Parquet from exchange (removed when the query ends). A residual with a "
        "construct Spark computes otherwise than the mesh dialect still runs in the embedded DuckDB; "
        "EXPLAIN names the engine of each residual and why. Read when the mesh opens (a reload keeps "
        "the running one).", None),
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_FIELDS = {item.name: item for item in fields(Settings)}
_TYPES: dict[str, Any] = {
    name: {"float": float, "int": int, "str": str, "MergeEngineChoice": MergeEngineChoice.from_mapping}[
        str(item.type)] for name, item in _FIELDS.items()
}
assert set(DOCS) == set(_FIELDS), "every setting is documented, and only settings are"
