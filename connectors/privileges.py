"""What a server engine's account may do beyond reading tables: one review per engine kind.

flightmesh only ever sends SELECTs, in read-only sessions, after its planner refused every
escape hatch it knows of. The engine account is the last line behind all that: an account that
is a superuser, may read the server's files, signal other sessions or create objects turns one
overlooked function or one planner bug into a breach of the whole server. So when a mesh opens,
each product's engine account is asked what it may do, and anything beyond reading is reported
(``executor.runtime`` refuses to open unless the product sets ``engine.allow_privileged``).

The reviews only read catalogs, never try a privilege out. Each returns short findings
("is a superuser", "holds pg_read_server_files (...)", "may CREATE in database crm"); an empty
list means the account is fit. What counts as excess:

- **PostgreSQL**: the role's attributes (SUPERUSER, CREATEROLE, CREATEDB, REPLICATION,
  BYPASSRLS), also those of every role it may ``SET ROLE`` to; membership of any predefined
  ``pg_*`` role (``pg_database_owner``: it owns the database); CREATE on the database or on any
  schema; on any table or view: INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, GRANT
  OPTION, or ownership. Not reported: SELECT on tables the product does not declare (the
  planner never names them), TEMPORARY on the database (granted to PUBLIC by default, and the
  sessions are read-only, where PostgreSQL refuses CREATE TEMP TABLE), EXECUTE on functions
  (PUBLIC by default; the planner's function allow-list decides what runs).
- **MariaDB / MySQL**: every privilege of ``SHOW GRANTS`` other than USAGE and SELECT, at any
  level (global, database, table, column, routine), including ALL PRIVILEGES, PROXY and GRANT
  OPTION; SELECT on ``*.*`` or on a system database (``mysql`` holds the password hashes,
  ``performance_schema`` and ``sys`` other sessions' statements). On MariaDB the grants of every
  role the account may ``SET ROLE`` to are reviewed too; on MySQL a granted role is reported as
  such (its privileges are not expanded).

flightsql, duckdb, sqlite and parquet products have no engine account to review: files are
opened read-only, and a remote flightmesh enforces its own rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flightmesh.mesh.like import like_regex

from .base import EngineAccount  # declared with the other optional features; kept importable here

__all__ = ["EngineAccount", "mysql_excess_privileges", "postgresql_excess_privileges"]

README_SECTION = 'README, "Engine accounts: least privilege"'

# Tables named in one finding before "(and N more)".
_LISTED = 5


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown} (and {len(names) - _LISTED} more)"


# -- PostgreSQL ------------------------------------------------------------------------------------

Rows = Callable[[str], list[tuple[Any, ...]]]

_ATTRIBUTES = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")

# What membership of each predefined role lets a session do (PostgreSQL 15; newer ones are
# reported by name alone).
_PREDEFINED = {
    "pg_read_server_files": "reads any file on the database server",
    "pg_write_server_files": "writes files on the database server",
    "pg_execute_server_program": "runs programs on the database server",
    "pg_signal_backend": "cancels and terminates other sessions",
    "pg_read_all_settings": "reads every server setting",
    "pg_read_all_stats": "sees other sessions' statements",
    "pg_stat_scan_tables": "runs monitoring functions that lock tables",
    "pg_monitor": "monitoring: other sessions' statements, every setting",
    "pg_read_all_data": "reads every table",
    "pg_write_all_data": "writes every table",
    "pg_checkpoint": "forces checkpoints",
}

# Outside the system schemas: pg_catalog, pg_toast, the sessions' pg_temp_N, information_schema.
_USER_SCHEMA = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"

# (privilege word, the function that answers it). Column grants count: has_any_column_privilege
# is true for a table-level grant and for a grant on any one column.
_TABLE_PRIVILEGES = (
    ("INSERT", "has_any_column_privilege(c.oid, 'INSERT')"),
    ("UPDATE", "has_any_column_privilege(c.oid, 'UPDATE')"),
    ("DELETE", "has_table_privilege(c.oid, 'DELETE')"),
    ("TRUNCATE", "has_table_privilege(c.oid, 'TRUNCATE')"),
    ("REFERENCES", "has_any_column_privilege(c.oid, 'REFERENCES')"),
    ("TRIGGER", "has_table_privilege(c.oid, 'TRIGGER')"),
    ("GRANT SELECT", "has_table_privilege(c.oid, 'SELECT WITH GRANT OPTION')"),
)


def postgresql_excess_privileges(rows: Rows) -> list[str]:
    """Review the account of the session ``rows`` runs its catalog queries on.

    ``rows(sql)`` runs one query and returns its rows (the connector's own helper).
    """
    found: list[str] = []
    roles = rows(
        "SELECT r.rolname, r.rolname = current_user, r.rolsuper, r.rolcreaterole, r.rolcreatedb, "
        "r.rolreplication, r.rolbypassrls FROM pg_roles r "
        "WHERE r.rolname NOT LIKE 'pg\\_%' AND pg_has_role(current_user, r.oid, 'MEMBER') "
        "ORDER BY 2 DESC, 1"
    )
    for name, is_self, *flags in roles:
        attributes = [word for word, held in zip(_ATTRIBUTES, flags, strict=True) if held]
        if is_self and flags[0]:
            return ["is a superuser (it may do anything, including read and write server files)"]
        if not attributes:
            continue
        if is_self:
            found.append(f"has {', '.join(attributes)}")
        else:
            found.append(f"may SET ROLE {name}, which has {', '.join(attributes)}")

    database, may_create = rows("SELECT current_database(), has_database_privilege(current_database(), 'CREATE')")[0]
    for (role,) in rows("SELECT rolname FROM pg_roles WHERE rolname LIKE 'pg\\_%' "
                        "AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY 1"):
        if role == "pg_database_owner":
            found.append(f"owns database {database}")
        elif role in _PREDEFINED:
            found.append(f"holds {role} ({_PREDEFINED[role]})")
        else:
            found.append(f"holds {role}")
    if may_create and f"owns database {database}" not in found:
        found.append(f"may CREATE in database {database}")

    schemas = [name for (name,) in rows(
        f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_SCHEMA} AND has_schema_privilege(n.oid, 'CREATE') "
        "ORDER BY 1")]
    if schemas:
        found.append(f"may CREATE in schema{'s' if len(schemas) > 1 else ''} {_listed(schemas)}")

    checks = ", ".join(check for _, check in _TABLE_PRIVILEGES)
    tables = rows(
        f"SELECT n.nspname || '.' || c.relname, pg_has_role(current_user, c.relowner, 'MEMBER'), {checks} "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER_SCHEMA} ORDER BY 1"
    )
    owned: list[str] = []
    by_privileges: dict[tuple[str, ...], list[str]] = {}
    for name, owner, *held in tables:
        if owner:
            owned.append(name)  # an owner may ALTER and DROP, and has every privilege anyway
            continue
        privileges = tuple(word for (word, _), has in zip(_TABLE_PRIVILEGES, held, strict=True) if has)
        if privileges:
            by_privileges.setdefault(privileges, []).append(name)
    if owned:
        found.append(f"owns {_listed(owned)} (may ALTER, DROP and write them)")
    for privileges, names in by_privileges.items():
        found.append(f"may {', '.join(privileges)} on {_listed(names)}")
    return found


# -- MariaDB / MySQL -------------------------------------------------------------------------------

# Databases whose tables are not data: password hashes, other sessions' statements.
_SYSTEM_DATABASES = ("mysql", "performance_schema", "sys")

_TOKEN = re.compile(r"`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|[(),.@]|[^\s(),.@`'\"]+")
_ROUTINE_KINDS = ("FUNCTION", "PROCEDURE", "PACKAGE")


@dataclass(frozen=True)
class _Grant:
    """One ``GRANT ... ON ... TO ...`` line of SHOW GRANTS, taken apart."""

    privileges: tuple[tuple[str, bool], ...]   # (privilege, column-level)
    routine: str | None                        # FUNCTION / PROCEDURE / PACKAGE [BODY], else None
    database: str | None                       # None: every database (*.*)
    table: str | None                          # None: every table of the database
    target: str                                # the object as written, for messages
    grantee: str
    grant_option: bool


@dataclass(frozen=True)
class _RoleGrant:
    roles: tuple[str, ...]
    grantee: str
    admin_option: bool                         # may grant the roles to others


def mysql_excess_privileges(cursor: Any) -> list[str]:
    """Review the account ``cursor`` is connected as (a PyMySQL cursor).

    On MariaDB this switches the session's role (``SET ROLE``) to read each role's grants: the
    caller must discard the connection afterwards.
    """
    cursor.execute("SELECT VERSION(), CURRENT_USER()")
    version, account = cursor.fetchone()
    mariadb = "mariadb" in str(version).lower()
    if mariadb:
        cursor.execute("SET ROLE NONE")  # a default role would mix its grants into the account's
    lines = _show_grants(cursor, "SHOW GRANTS" if mariadb else "SHOW GRANTS FOR CURRENT_USER()")
    found: list[str] = []
    roles = [role for line in lines if isinstance(line, _RoleGrant) for role in line.roles]
    found.extend(f"may grant role {', '.join(line.roles)} to others (WITH ADMIN OPTION)"
                 for line in lines if isinstance(line, _RoleGrant) and line.admin_option)
    if mariadb:
        for role in roles:
            cursor.execute(f"SET ROLE {_quote(role)}")
            lines.extend(_show_grants(cursor, "SHOW GRANTS"))  # the role's grants, nested roles included
        cursor.execute("SET ROLE NONE")
    else:
        found.extend(f"holds role {role} (MySQL roles are not reviewed: grant the account SELECT directly)"
                     for role in roles)
    for line in lines:
        if isinstance(line, _Grant):
            for finding in _grant_excess(line):
                through = "" if line.grantee == account else f"through role {line.grantee}: "
                if through + finding not in found:
                    found.append(through + finding)
    return found


def _show_grants(cursor: Any, statement: str) -> list[_Grant | _RoleGrant]:
    cursor.execute(statement)
    parsed = [_parse_grant(str(row[0])) for row in cursor.fetchall()]
    return [line for line in parsed if line is not None]


def _grant_excess(grant: _Grant) -> list[str]:
    found: list[str] = []
    excess: list[str] = []
    for privilege, columns in grant.privileges:
        if privilege == "USAGE":
            continue
        if privilege == "PROXY":
            found.append(f"may PROXY as {grant.target}")
            continue
        if privilege == "ALL PRIVILEGES":
            everything = "FILE, SUPER, PROCESS, SHUTDOWN and every other" if grant.database is None else "every"
            found.append(f"holds ALL PRIVILEGES on {grant.target} ({everything} privilege)")
            continue
        if privilege == "SELECT" and grant.routine is None:
            if grant.database is None:
                found.append("may SELECT every database (*.*), the mysql system database included")
                continue
            # wildcards only mean something in database-level grants
            system = [name for name in _SYSTEM_DATABASES
                      if (_like(grant.database, name) if grant.table is None else grant.database.lower() == name)]
            if not system:
                continue
            found.append(f"may SELECT {grant.target} (system database{'s' if len(system) > 1 else ''} "
                         f"{', '.join(system)})")
            continue
        excess.append(f"{privilege} (columns)" if columns else privilege)
    if excess:
        found.append(f"holds {', '.join(excess)} on {grant.target}")
    if grant.grant_option:
        found.append(f"may GRANT its privileges to others on {grant.target} (WITH GRANT OPTION)")
    return found


def _parse_grant(line: str) -> _Grant | _RoleGrant | None:
    """One SHOW GRANTS line; None for what is not a grant (MySQL's partial REVOKE lines)."""
    tokens = _TOKEN.findall(line)
    if not tokens or tokens[0].upper() != "GRANT":
        return None
    depth = 0
    on = to = None
    for index, token in enumerate(tokens):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and token.upper() == "ON" and on is None and to is None:
            on = index
        elif depth == 0 and token.upper() == "TO" and to is None:
            to = index
    if to is None:
        return None
    grantee, rest = _grantee(tokens[to + 1:])
    upper = [token.upper() for token in rest]
    if on is None:  # GRANT role[, role] TO grantee [WITH ADMIN OPTION]; MySQL writes roles as `r`@`%`
        roles = tuple("@".join(_unquote(part) for part in group if part != "@")
                      for group in _split(tokens[1:to]))
        return _RoleGrant(roles, grantee, _has(upper, "ADMIN", "OPTION"))
    privileges = _privileges(tokens[1:on])
    routine, database, table, target = _target(tokens[on + 1:to])
    return _Grant(privileges, routine, database, table, target, grantee, _has(upper, "GRANT", "OPTION"))


def _split(tokens: Sequence[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for token in tokens:
        if token == ",":
            groups.append([])
        else:
            groups[-1].append(token)
    return [group for group in groups if group]


def _has(upper: Sequence[str], *words: str) -> bool:
    return any(list(upper[i:i + len(words)]) == list(words) for i in range(len(upper)))


def _privileges(tokens: Sequence[str]) -> tuple[tuple[str, bool], ...]:
    result: list[tuple[str, bool]] = []
    words: list[str] = []
    columns = False
    depth = 0
    for token in [*tokens, ","]:
        if token == "(":
            depth += 1
            columns = True
        elif token == ")":
            depth -= 1
        elif depth > 0:
            continue
        elif token == ",":
            if words:
                result.append((" ".join(words).upper(), columns))
            words, columns = [], False
        else:
            words.append(token)
    return tuple(result)


def _target(tokens: Sequence[str]) -> tuple[str | None, str | None, str | None, str]:
    """(routine kind, database or None for every one, table or None for every one, as written)."""
    tokens = list(tokens)
    routine = None
    if tokens and tokens[0].upper() in _ROUTINE_KINDS:
        kind = [tokens.pop(0).upper()]
        if kind == ["PACKAGE"] and tokens and tokens[0].upper() == "BODY":
            kind.append(tokens.pop(0).upper())
        routine = " ".join(kind)
    text = "".join(tokens)
    if "@" in tokens:                                   # PROXY ON user@host
        return routine, None, None, text
    if "." in tokens:
        dot = tokens.index(".")
        database, table = "".join(tokens[:dot]), "".join(tokens[dot + 1:])
    else:
        database, table = "".join(tokens), "*"
    shown = f"{routine} {text}" if routine else text
    return (routine, None if database == "*" else _unquote(database),
            None if table == "*" else _unquote(table), shown)


def _grantee(tokens: Sequence[str]) -> tuple[str, Sequence[str]]:
    """``user@host`` (or a role) after TO, and the tokens that follow it."""
    if not tokens:
        return "", ()
    name = _unquote(tokens[0])
    if len(tokens) >= 3 and tokens[1] == "@":
        return f"{name}@{_unquote(tokens[2])}", tokens[3:]
    return name, tokens[1:]


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == "`":
        return token[1:-1].replace("``", "`")
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _like(pattern: str, name: str) -> bool:
    """Does a database-level grant's name (``%`` and ``_`` are wildcards, ``\\`` escapes) cover ``name``?"""
    return re.fullmatch(like_regex(pattern), name, flags=re.IGNORECASE | re.DOTALL) is not None
