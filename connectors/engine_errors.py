"""One classifier of engine failures: what went wrong, in words the client may read.

Every connector's error mapping and the merge engine hand an engine's failure here. Each engine
tells the reason by its own means, verified on the real engines (DuckDB 2.0, PostgreSQL 15,
MariaDB 10.11, SQLite 3.53 as the ADBC driver bundles it):

===================  ==================  ===========================  ======================
reason class         DuckDB exception    PostgreSQL SQLSTATE          MariaDB error number
===================  ==================  ===========================  ======================
conversion           ConversionException 22P02                        1292, 1366, 1367
overflow             OutOfRange, "out    22003                        1690, 1264
                     of range" casts
division by zero     InvalidInput        22012                        1365
invalid date/time    ConversionException 22007, 22008                 1525 (a DATE/TIME type),
                     on date/time                                     1411
string too long      --                  22001                        1406
invalid value        InvalidInput        other 22xxx (2201B regex,    1139 (regex)
                                         2201E/F log/sqrt, 22011 ...)
===================  ==================  ===========================  ======================

Verified on the engines: every DuckDB class, every SQLSTATE above but 22001 (writes only), and
MariaDB's 1690, 1525 and 1139. In a SELECT, MariaDB converts ('abc' is 0, a bad date NULL) and
divides by zero (NULL) with a warning only: 1292, 1264, 1365, 1366, 1406 are raised by writes in
strict mode, mapped for the MySQL servers and modes that raise them. SQLite converts silently; it
raises only "integer overflow" (``abs``, ``sum``), "string or blob too big" and
function-argument errors, recognised by their text.

These data problems are the query's (``DataError`` -> INVALID_ARGUMENT). Anything else stays an
``EngineError`` with a reason class of a fixed vocabulary ("the engine rejected the fragment: it
is not valid SQL for this engine", "the engine ran out of resources"): an engine's own text is
never shown, because engines quote values in it, from rows a policy may hide, and expressions of
the policies.

A value is quoted only when two things hold. The engine shows it is a literal of the statement
it ran, not a value read from a row: PostgreSQL gives the error a statement position only for a
literal of the text; DuckDB underlines the failing expression, which must be a literal (or a
cast of one) and not "casting from source column"; MariaDB's 1525 is raised for typed literals
only. And the literal is the client's own (``DataError.with_client_value``, checked by
``executor.client_errors`` against the client's statement): a fragment also holds the policies'
literals. A row value equal to a literal the client typed is still not quoted, so an error
cannot confirm a guess about a hidden row.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.tokens import Tokenizer, TokenType  # type: ignore[attr-defined]

from flightmesh.mesh import DataError, EngineError, FlightmeshError

__all__ = [
    "Failure",
    "Problem",
    "client_literals",
    "duckdb_failure",
    "mesh_error",
    "mysql_failure",
    "postgresql_failure",
    "postgresql_primary",
    "remote_failure",
    "sqlite_failure",
]


class Problem(enum.Enum):
    # data problems: the query's (INVALID_ARGUMENT)
    CONVERSION = "conversion"
    OVERFLOW = "overflow"
    DIVISION_BY_ZERO = "division by zero"
    INVALID_DATETIME = "invalid date/time"
    STRING_TOO_LONG = "string too long"
    INVALID_VALUE = "invalid value"
    # the engine's (EngineError, INTERNAL)
    COMPILE = "compile"
    RESOURCES = "resources"
    ENGINE = "engine"


_DATA = frozenset({Problem.CONVERSION, Problem.OVERFLOW, Problem.DIVISION_BY_ZERO, Problem.INVALID_DATETIME,
                   Problem.STRING_TOO_LONG, Problem.INVALID_VALUE})


@dataclass(frozen=True)
class Failure:
    """One engine failure, classified. Every field is from a fixed vocabulary except ``value``."""

    problem: Problem
    type_name: str | None = None   # the type involved, as the mesh dialect names it
    value: str | None = None       # the failing value, only when the engine shows it is a literal
    detail: str | None = None      # a refinement from this module's own words ("invalid regular expression")

    @property
    def is_data(self) -> bool:
        """A data problem: the query's (DataError), not the engine's."""
        return self.problem in _DATA


def mesh_error(product: str | None, failure: Failure, internal: str, *, scope: str | None = None) -> FlightmeshError:
    """The mesh error for ``failure``: DataError for a data problem, EngineError otherwise.

    ``product`` None is the merge engine; ``scope`` overrides how the message says where.
    """
    where = scope or (f"product {product}" if product else "the query failed while combining products")
    if failure.is_data:
        quoted = _reason(failure, with_value=True) if failure.value is not None else None
        return DataError(where, _reason(failure, with_value=False), product=product, quoted=quoted,
                         candidate=failure.value, internal=internal)
    reason = {
        Problem.COMPILE: "the engine rejected the fragment: it is not valid SQL for this engine",
        Problem.RESOURCES: "the engine ran out of resources (memory, disk or a limit)",
        Problem.ENGINE: "the engine rejected the fragment",
    }[failure.problem]
    if failure.detail:
        reason += f" ({failure.detail})"
    return EngineError(product or "merge", reason, internal=internal)


def _reason(failure: Failure, *, with_value: bool) -> str:
    kind = failure.type_name
    value = f"'{failure.value}'" if with_value and failure.value is not None else None
    problem = failure.problem
    if problem is Problem.CONVERSION:
        target = kind or "the type the query asks for"
        return f"could not convert {value} to {target}" if value else f"a value could not be converted to {target}"
    if problem is Problem.OVERFLOW:
        target = f" for {kind}" if kind else " for its type"
        return f"numeric overflow: {value} is out of range{target}" if value else \
            f"numeric overflow: a value is out of range{target}"
    if problem is Problem.DIVISION_BY_ZERO:
        return "division by zero"
    if problem is Problem.INVALID_DATETIME:
        target = (f" for {kind}" if kind else "") + (f" ({failure.detail})" if failure.detail else "")
        return f"invalid date/time value {value}{target}" if value else f"invalid date/time value{target}"
    if problem is Problem.STRING_TOO_LONG:
        return f"string too long for {kind}" if kind else "string too long for its type"
    return f"a function was given an invalid value ({failure.detail})" if failure.detail else \
        "a function was given an invalid value"


# -- the client's literals ---------------------------------------------------------------------


def client_literals(sql: str) -> frozenset[str]:
    """The string and number literals of the client's statement text, as their values read.

    Lexical on purpose: whatever the client's dialect, every string found is a piece of the
    client's own text, so quoting it tells the client nothing it did not write.
    """
    try:
        tokens = Tokenizer().tokenize(sql)
    except Exception:  # sqlglot's tokenizer raises several kinds; then quote nothing
        return frozenset()
    return frozenset(token.text for token in tokens if token.token_type in (TokenType.STRING, TokenType.NUMBER))


# -- DuckDB (the file engines, Parquet, the virtual schemas, the merge) --------------------------

# DuckDB's names of its physical types, as the mesh dialect (DuckDB SQL) writes them.
_DUCKDB_TYPES = {
    "INT8": "TINYINT", "INT16": "SMALLINT", "INT32": "INTEGER", "INT64": "BIGINT", "INT128": "HUGEINT",
    "UINT8": "UTINYINT", "UINT16": "USMALLINT", "UINT32": "UINTEGER", "UINT64": "UBIGINT",
    "UINT128": "UHUGEINT", "BOOL": "BOOLEAN", "BOOLEAN": "BOOLEAN", "FLOAT": "FLOAT", "DOUBLE": "DOUBLE",
    "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP WITH TIME ZONE",
    "INTERVAL": "INTERVAL", "UUID": "UUID", "VARCHAR": "VARCHAR", "BLOB": "BLOB", "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT", "INTEGER": "INTEGER", "BIGINT": "BIGINT", "HUGEINT": "HUGEINT",
}
_DECIMAL = re.compile(r"DECIMAL\(\d{1,2},\d{1,2}\)")


def _duckdb_type(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.strip().upper()
    if _DECIMAL.fullmatch(name):
        return name
    return _DUCKDB_TYPES.get(name)


# DuckDB's Arrow reader reports a failure mid-stream as a plain OSError (or ArrowInvalid) whose
# text starts with the exception's label: both ways lead to one kind.
_DUCKDB_KINDS: tuple[tuple[type[Exception], str, str], ...] = (
    (duckdb.ConversionException, "Conversion Error", "conversion"),
    (duckdb.OutOfRangeException, "Out of Range Error", "range"),
    (duckdb.InvalidInputException, "Invalid Input Error", "input"),
    (duckdb.OutOfMemoryException, "Out of Memory Error", "memory"),
    (duckdb.BinderException, "Binder Error", "compile"),
    (duckdb.CatalogException, "Catalog Error", "compile"),
    (duckdb.ParserException, "Parser Error", "compile"),
    (duckdb.NotImplementedException, "Not implemented Error", "compile"),
    (duckdb.TypeMismatchException, "Type Mismatch Error", "compile"),
)


def _duckdb_kind(error: BaseException, text: str) -> str | None:
    for cls, label, kind in _DUCKDB_KINDS:
        if isinstance(error, cls) or text.startswith(label + ":"):
            return kind
    return None


def duckdb_failure(error: BaseException) -> Failure:
    """Classify an error of a DuckDB engine (a product's file, a Parquet folder, the merge)."""
    text = str(error)
    head = text.split("\n", 1)[0].split(": ", 1)[-1]
    kind = _duckdb_kind(error, text)
    if kind == "conversion":
        return _duckdb_conversion(head, text)
    if kind == "range":
        found = re.match(r"Overflow in \w+ of (\w+)", head)
        return Failure(Problem.OVERFLOW, _duckdb_type(found.group(1) if found else None))
    if kind == "input":
        if head.startswith("Division by zero"):
            return Failure(Problem.DIVISION_BY_ZERO)
        if head.startswith("Could not parse string"):
            return Failure(Problem.INVALID_DATETIME, detail="the string does not match the format")
        return Failure(Problem.INVALID_VALUE)
    if kind == "memory":
        return Failure(Problem.RESOURCES)
    if kind == "compile":
        return Failure(Problem.COMPILE)
    return Failure(Problem.ENGINE, detail=type(error).__name__)


def _duckdb_conversion(head: str, text: str) -> Failure:
    found = re.match(r"Could not convert string ['\"](.*)['\"] to (.+?)( when casting from source column .*)?$",
                     head)
    if found:
        return Failure(Problem.CONVERSION, _duckdb_type(found.group(2)), _duckdb_literal(found.group(1), text))
    found = re.match(r"Type (\w+) with value (.*) can't be cast because the value is out of range for the "
                     r"destination type (\w+)", head)
    if found:
        return Failure(Problem.OVERFLOW, _duckdb_type(found.group(3)), _duckdb_literal(found.group(2), text))
    found = re.match(r'Casting value "(.*)" to type (.+) failed: value is out of range', head)
    if found:
        return Failure(Problem.OVERFLOW, _duckdb_type(found.group(2)), _duckdb_literal(found.group(1), text))
    found = re.search(r'\b(date|timestamp|time)\b[^"]*: "([^"]*)"', head, re.IGNORECASE)
    if found:
        return Failure(Problem.INVALID_DATETIME, found.group(1).upper(), _duckdb_literal(found.group(2), text))
    if re.match(r"(Date|Timestamp|Time) out of range", head):
        return Failure(Problem.INVALID_DATETIME, head.split()[0].upper())
    return Failure(Problem.CONVERSION)


# The only node kinds a DuckDB error may underline for its value to count as a literal.
_LITERAL_NODES = (exp.Literal, exp.Cast, exp.TryCast, exp.DataType, exp.DataTypeParam, exp.Neg, exp.Paren)


def _duckdb_literal(value: str, text: str) -> str | None:
    """``value`` when DuckDB's error underlines a literal holding it (or a cast of one); else None."""
    if "when casting from source column" in text:
        return None
    lines = text.split("\n")
    for index, line in enumerate(lines[:-1]):
        if not line.startswith("LINE "):
            continue
        carets = lines[index + 1]
        start, end = carets.find("^"), carets.rfind("^") + 1
        if start < 0:
            return None
        return value if _is_literal(line[start:end], value) else None
    return None


def _is_literal(span: str, value: str) -> bool:
    try:
        node = sqlglot.parse_one(span, read="duckdb")
    except Exception:  # a span cut by DuckDB's "..." does not parse: no evidence
        return False
    if node is None or not all(isinstance(part, _LITERAL_NODES) for part in node.walk()):
        return False
    return any(str(literal.this) == value for literal in node.find_all(exp.Literal))


# -- PostgreSQL -------------------------------------------------------------------------------

_PG_TYPES = {
    "integer": "INTEGER", "bigint": "BIGINT", "smallint": "SMALLINT", "numeric": "DECIMAL",
    "double precision": "DOUBLE", "real": "FLOAT", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp without time zone": "TIMESTAMP", "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
    "time without time zone": "TIME", "time with time zone": "TIME WITH TIME ZONE", "interval": "INTERVAL",
    "uuid": "UUID", "json": "JSON", "jsonb": "JSON", "bytea": "BLOB", "text": "VARCHAR",
    "character varying": "VARCHAR",
}
_PG_DETAIL = {
    "2201B": "invalid regular expression",
    "2201E": "invalid argument for a logarithm",
    "2201F": "invalid argument for a power function",
    "22011": "invalid substring arguments",
    "2201W": "invalid LIMIT value",
    "2201X": "invalid OFFSET value",
    "22004": "a NULL where none is allowed",
    "22025": "invalid escape sequence",
    "22019": "invalid escape character",
    "22016": "invalid argument for a window function",
    "22P05": "a character the encoding cannot hold",
    "22021": "a character the encoding cannot hold",
}


def _pg_type(name: str) -> str | None:
    name = name.strip().lower()
    if name.startswith(("character varying(", "character(")):
        return "VARCHAR" + name[name.index("("):]
    return _PG_TYPES.get(name)


def postgresql_failure(sqlstate: str, primary: str, *, at_statement_position: bool) -> Failure | None:
    """Classify a PostgreSQL error by its SQLSTATE; None when it is not a data or engine failure
    this module knows (connection, credentials, a missing table: the connector's own cases).

    ``primary`` is the message's primary text; ``at_statement_position`` says the error carries a
    position in the statement (PostgreSQL gives one for a literal of the text, never for a row).
    """
    state = sqlstate.upper() or _pg_state_of(primary)
    if state.startswith("22"):
        return _pg_data(state, primary, at_statement_position)
    if state.startswith("42"):
        return Failure(Problem.COMPILE)
    if state.startswith(("53", "54")):
        return Failure(Problem.RESOURCES)
    if state.startswith("40"):
        return Failure(Problem.ENGINE, detail="a transaction conflict; retrying may succeed")
    if state.startswith(("XX", "58")):
        return Failure(Problem.ENGINE, detail="an internal error of the engine")
    return None


# Mid-stream, the ADBC driver reports only libpq's text ("[libpq] Execution error ...: ERROR:  <primary>"),
# without SQLSTATE or fields: the primary messages of the data exceptions tell their state.
_PG_STATE_OF_TEXT = (
    ("invalid input syntax for type date", "22007"),
    ("invalid input syntax for type time", "22007"),
    ("invalid input syntax for type", "22P02"),
    ("date/time field value out of range", "22008"),
    ("date field value out of range", "22008"),
    ("out of range", "22003"),
    ("numeric field overflow", "22003"),
    ("division by zero", "22012"),
    ("value too long for type", "22001"),
    ("invalid regular expression", "2201B"),
    ("cannot take logarithm", "2201E"),
    ("cannot take square root", "2201F"),
    ("negative substring length", "22011"),
)


def _pg_state_of(primary: str) -> str:
    for sign, state in _PG_STATE_OF_TEXT:
        if primary.startswith(sign) or f" {sign}" in primary:
            return state
    return ""


def postgresql_primary(text: str) -> str:
    """The primary message inside a libpq error text (``... ERROR:  <primary>\n...``); else ""."""
    found = re.search(r"ERROR:\s+(.*)", text)
    return found.group(1).strip() if found else ""


def _pg_data(state: str, primary: str, literal: bool) -> Failure:
    quoted = re.search(r'"(.*)"\s*$', primary)
    value = quoted.group(1) if quoted and literal else None
    named = re.search(r"for type (.+?): \"", primary)
    kind = _pg_type(named.group(1)) if named else None
    if state == "22P02":
        return Failure(Problem.CONVERSION, kind, value)
    if state == "22003":
        found = re.match(r"(integer|bigint|smallint) out of range", primary)
        if found:
            kind = _pg_type(found.group(1))
        elif "for type double precision" in primary:
            kind = "DOUBLE"
        elif primary.startswith("numeric field overflow"):
            kind = "DECIMAL"
        return Failure(Problem.OVERFLOW, kind)
    if state == "22012":
        return Failure(Problem.DIVISION_BY_ZERO)
    if state in ("22007", "22008", "22009"):
        return Failure(Problem.INVALID_DATETIME, kind, value)
    if state == "22001":
        found = re.search(r"for type (.+)$", primary)
        return Failure(Problem.STRING_TOO_LONG, _pg_type(found.group(1)) if found else None)
    return Failure(Problem.INVALID_VALUE, detail=_PG_DETAIL.get(state))


# -- MariaDB / MySQL ----------------------------------------------------------------------------

_MYSQL_TYPES = ("BIGINT UNSIGNED", "BIGINT", "INT UNSIGNED", "INT", "DECIMAL", "DOUBLE", "FLOAT", "INTEGER",
                "DATETIME", "DATE", "TIMESTAMP", "TIME", "SMALLINT", "TINYINT")
_MYSQL_MESH_TYPE = {"INT": "INTEGER", "INT UNSIGNED": "UINTEGER", "BIGINT UNSIGNED": "UBIGINT",
                    "DATETIME": "TIMESTAMP"}


def _mysql_type(text: str) -> str | None:
    upper = text.upper()
    for name in _MYSQL_TYPES:
        if upper.startswith(name):
            return _MYSQL_MESH_TYPE.get(name, name)
    return None


def mysql_failure(code: int | None, message: str) -> Failure | None:
    """Classify a MariaDB/MySQL error by its number; None when this module does not know it."""
    text = re.sub(r"^.*?ERROR \d+ \([0-9A-Z]{5}\): ", "", message.strip()).rstrip(" }")
    if code in (1690, 1264):
        return Failure(Problem.OVERFLOW, _mysql_type(text) if code == 1690 else None)
    if code in (1292, 1366, 1367):
        found = re.search(r"incorrect (\w+) value", text, re.IGNORECASE)
        kind = _mysql_type(found.group(1)) if found else None
        if kind in ("DATE", "TIME", "TIMESTAMP"):
            return Failure(Problem.INVALID_DATETIME, kind)
        return Failure(Problem.CONVERSION, kind)
    if code == 1365:
        return Failure(Problem.DIVISION_BY_ZERO)
    if code == 1406:
        return Failure(Problem.STRING_TOO_LONG)
    if code == 1525:
        # Raised while parsing a typed literal (DATE '2020-13-01'): the value is the statement's.
        found = re.match(r"Incorrect (\w+) value: '(.*)'$", text)
        kind = _mysql_type(found.group(1)) if found else None
        problem = Problem.INVALID_DATETIME if kind in ("DATE", "TIME", "TIMESTAMP") else Problem.CONVERSION
        return Failure(problem, kind, found.group(2) if found else None)
    if code == 1411:
        return Failure(Problem.INVALID_DATETIME)
    if code == 1139:
        return Failure(Problem.INVALID_VALUE, detail="invalid regular expression")
    if code in (1064, 1054, 1305, 1582, 1583, 1630, 1241, 1222, 1248, 1052):
        return Failure(Problem.COMPILE)
    if code in (1037, 1038, 1041, 1114, 1135, 1104, 3):
        return Failure(Problem.RESOURCES)
    return None


# -- SQLite -------------------------------------------------------------------------------------

_SQLITE_INVALID = ("malformed JSON", "JSON cannot hold BLOB values", "argument to likelihood()",
                   "bad JSON path", "JSON path error")


def sqlite_failure(message: str) -> Failure:
    """Classify an SQLite error by its text (the driver gives no code beyond SQLITE_ERROR)."""
    lowered = message.lower()
    if "integer overflow" in lowered:
        return Failure(Problem.OVERFLOW, "BIGINT")
    if "string or blob too big" in lowered:
        return Failure(Problem.STRING_TOO_LONG)
    for sign in _SQLITE_INVALID:
        if sign.lower() in lowered:
            return Failure(Problem.INVALID_VALUE, detail=sign.split(" argument")[0] if "JSON" in sign else None)
    if any(sign in lowered for sign in ("no such function", "no such column", "syntax error", "misuse of",
                                         "wrong number of arguments", "no such table")):
        return Failure(Problem.COMPILE)
    if any(sign in lowered for sign in ("out of memory", "database or disk is full", "too many")):
        return Failure(Problem.RESOURCES)
    return Failure(Problem.ENGINE)


# -- a remote Flight SQL server -----------------------------------------------------------------


def remote_failure(status: str, message: str) -> Failure | None:
    """Classify a remote's INVALID_ARGUMENT by the reason class its message names, never its values.

    The remote wrote its message for our server's account, and the fragment it ran holds this
    mesh's policy literals: quoting what the remote quotes could show a policy's literal.
    """
    if status != "INVALID_ARGUMENT":
        return None
    lowered = message.lower()
    named = re.search(r"\b(?:to|for) ([A-Z][A-Z ]*[A-Z](?:\(\d{1,2},\d{1,2}\))?)\b", message)
    kind = _duckdb_type(named.group(1)) if named else None  # only a type name this module knows
    if "division by zero" in lowered:
        return Failure(Problem.DIVISION_BY_ZERO)
    if "overflow" in lowered or "out of range" in lowered:
        return Failure(Problem.OVERFLOW, kind)
    if "date/time" in lowered:
        return Failure(Problem.INVALID_DATETIME, kind)
    if "string too long" in lowered:
        return Failure(Problem.STRING_TOO_LONG)
    if "convert" in lowered:
        return Failure(Problem.CONVERSION, kind)
    # a syntax error, an unknown function...: the fragment this mesh rendered, not the client's query
    return Failure(Problem.COMPILE, detail="the remote refused it")

