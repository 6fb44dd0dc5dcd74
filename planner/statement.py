"""From SQL text to one checked statement: parse, refuse what may not run, bind parameters.

Only reading statements pass (DESIGN.md §6): SELECT, WITH, set operations, VALUES, and
``EXPLAIN [ANALYZE] <query>``. Everything else is refused before any name is resolved: writes
and DDL with ReadOnlyViolation, engine commands (SET, PRAGMA, ATTACH, COPY, INSTALL, LOAD, CALL,
USE ...) likewise, and several statements in one text with a syntax error at the second one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from flightmesh.governance.language import WRITTEN_NAME
from flightmesh.mesh import ParameterError, ReadOnlyViolation, SqlSyntaxError, UnsupportedQuery
from flightmesh.mesh.sqltypes import UnsupportedLiteral, sql_literal

from .nested_joins import flatten_nested_joins
from .show import show_as_query
from .treecopy import copy_tree

__all__ = ["Statement", "bind_parameters", "count_parameters", "parse_statement", "values_as_select"]

_QUERY_TYPES = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

# Statement node types sqlglot produces for things that write or reconfigure, named for the message.
_WRITES: dict[type[exp.Expr], str] = {
    exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE",
    exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.TruncateTable: "TRUNCATE",
    exp.Copy: "COPY", exp.Set: "SET", exp.Pragma: "PRAGMA", exp.Attach: "ATTACH",
    exp.Detach: "DETACH", exp.Install: "INSTALL", exp.Use: "USE", exp.Grant: "GRANT",
    exp.Revoke: "REVOKE", exp.Transaction: "BEGIN", exp.Commit: "COMMIT", exp.Rollback: "ROLLBACK",
    exp.Command: "this command", exp.LoadData: "LOAD", exp.Cache: "CACHE", exp.Uncache: "UNCACHE",
    exp.Summarize: "SUMMARIZE", exp.Export: "EXPORT",
}


@dataclass(frozen=True)
class Statement:
    """A parsed query. ``explain`` is None, "plan" or "analyze".

    ``owned``: the tree is one planning's alone (nobody keeps the statement to plan it again),
    so planning may rewrite it in place instead of copying it first.
    """

    tree: exp.Expr
    explain: str | None
    parameter_count: int
    owned: bool = False


def parse_statement(sql: str, dialect: str, *, max_chars: int | None = None,
                    max_nodes: int | None = None, owned: bool = False) -> Statement:
    """Parse exactly one reading statement written in ``dialect``.

    ``max_chars`` and ``max_nodes`` bound the work one statement may cause: parsing and planning
    hold the GIL, so an enormous statement would slow every other user's query. ``owned``: the
    caller plans the statement once and keeps it no longer (``Statement.owned``).
    """
    if not sql or not sql.strip():
        raise SqlSyntaxError("the statement is empty")
    if max_chars is not None and len(sql) > max_chars:
        raise UnsupportedQuery(f"the statement is {len(sql)} characters long, more than max_statement_chars "
                               f"({max_chars})")
    explain, sql = _strip_explain(sql)
    sql = show_as_query(sql)  # SHOW / DESCRIBE: queries over information_schema (planner/show.py)
    tokens = _tokenize(sql, dialect)
    statements = _split(tokens)
    if len(statements) != 1:
        second = statements[1][0]
        raise SqlSyntaxError("only one statement may be sent at a time", second.line, _column(second))
    try:
        parser = sqlglot.Dialect.get_or_raise(dialect).parser()
        trees = parser.parse(statements[0], sql)
    except ParseError as error:
        raise _syntax_error(error) from None
    except RecursionError:
        raise UnsupportedQuery("the statement is nested too deeply; split it into several") from None
    except (IndexError, KeyError, TypeError, ValueError, AttributeError):
        # sqlglot's function builders index their arguments (MAP(x) with an odd count raised
        # IndexError): a malformed call is the client's syntax error, not an internal one.
        raise SqlSyntaxError("invalid SQL: a function is called with arguments it does not take") from None
    tree = trees[0] if trees else None
    if tree is None:
        raise SqlSyntaxError("the statement is empty")
    try:
        _check_kind(tree)
    except RecursionError:
        raise UnsupportedQuery("the statement is nested too deeply; split it into several") from None
    nodes = 0
    parameters: list[exp.Expr] = []  # counted from the walk already made, not by another
    for node in tree.walk():
        # Comments are client text the generator would print into engines' statements.
        node.comments = None
        nodes += 1
        if isinstance(node, exp.Func):
            _keep_written_name(node, sql)
        elif isinstance(node, (exp.Placeholder, exp.Parameter)):
            parameters.append(node)
        meta = node._meta
        if meta is not None:
            _drop_positions(node, meta)
    if max_nodes is not None and nodes > max_nodes:
        raise UnsupportedQuery(f"the statement has {nodes} syntax nodes, more than max_statement_nodes ({max_nodes})")
    flatten_nested_joins(tree)  # before names are resolved: (a JOIN b ON ...) as a FROM item
    for values in list(tree.find_all(exp.Values)):
        if isinstance(values.parent, (exp.From, exp.Join)):  # a derived table (not IN (VALUES ...))
            _name_columns(values)
    if isinstance(tree, exp.Values):
        tree = values_as_select(tree)
    return Statement(tree=tree, explain=explain, parameter_count=_count(parameters), owned=owned)


def values_as_select(values: exp.Values) -> exp.Select:
    """``VALUES (1, 'a')`` as ``SELECT * FROM (VALUES (1, 'a')) AS _values(col0, col1)``.

    A bare VALUES is a query in the mesh dialect, but not one the planner's query shapes cover;
    as a derived table it is. Its ORDER BY / LIMIT / OFFSET move to the SELECT.
    """
    _name_columns(values)
    select = exp.Select(expressions=[exp.Star()])
    for key in ("order", "limit", "offset"):
        clause = values.args.get(key)
        if clause is not None:
            select.set(key, clause.pop())
    select.set("from_", exp.From(this=values))
    return select


def _name_columns(values: exp.Values) -> None:
    """Give a VALUES list DuckDB's names for the columns its alias leaves unnamed: col0, col1, ...
    (sqlglot's qualification would call them _col_0 ...). Rows of different widths are refused."""
    rows = [row.expressions if isinstance(row, exp.Tuple) else [row] for row in values.expressions]
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise SqlSyntaxError("every row of VALUES must have the same number of values")
    width = widths.pop() if widths else 0
    alias = values.args.get("alias")
    if alias is None:
        alias = exp.TableAlias(this=exp.to_identifier("_values"))
        values.set("alias", alias)
    named = list(alias.args.get("columns") or [])
    alias.set("columns", named + [exp.to_identifier(f"col{i}") for i in range(len(named), width)])


def _keep_written_name(node: exp.Func, sql: str) -> None:
    """Remember the function name as written: each dialect maps its own names onto sqlglot's
    classes (Trino's approx_percentile is ApproxQuantile), and a refusal must name what the
    client wrote. The parser records the name token's offsets in ``meta``."""
    start, end = node.meta.get("start"), node.meta.get("end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end < len(sql):
        written = sql[start:end + 1]
        if written.replace("_", "").replace("$", "").isalnum():  # a name, not a keyword-shaped node
            node.meta[WRITTEN_NAME] = written


# Where the parser found each token (meta of identifiers, literals, names): read only by sqlglot's
# error messages, whose positions the planner's messages leave out (``resolve._column_error``), and
# by ``_keep_written_name`` above. Every copy of the tree would carry them (four per node) again.
_POSITIONS = ("line", "col", "start", "end")


def _drop_positions(node: exp.Expr, meta: dict[str, Any]) -> None:
    for key in _POSITIONS:
        meta.pop(key, None)
    if not meta:
        node._meta = None


def _tokenize(sql: str, dialect: str) -> list[Token]:
    try:
        return list(sqlglot.Dialect.get_or_raise(dialect).tokenize(sql))
    except TokenError as error:
        raise SqlSyntaxError(str(error).splitlines()[0]) from None


_EXPLAIN = re.compile(r"^(\s*)(explain)(\s+analyze)?\b", re.IGNORECASE)


def _strip_explain(sql: str) -> tuple[str | None, str]:
    """Blank out a leading EXPLAIN [ANALYZE] with spaces, so error positions stay exact."""
    match = _EXPLAIN.match(sql)
    if match is None:
        return None, sql
    return ("analyze" if match.group(3) else "plan"), " " * match.end() + sql[match.end():]


def _split(tokens: list[Token]) -> list[list[Token]]:
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s] or [[]]


def _column(token: Token) -> int:
    # sqlglot's col is the position of the token's last character; editors show the first.
    return max(1, token.col - len(token.text) + 1)


def _syntax_error(error: ParseError) -> SqlSyntaxError:
    first = error.errors[0] if error.errors else {}
    description = str(first.get("description") or error).split(". Line")[0]
    description = description.split("<Token")[0].strip().rstrip(":").strip() or "invalid SQL"
    highlight = first.get("highlight")
    if highlight:
        description = f"{description} near {highlight!r}"
    line, column = first.get("line"), first.get("col")
    if isinstance(column, int) and isinstance(highlight, str):
        column = max(1, column - len(highlight) + 1)
    return SqlSyntaxError(description, line, column)


def _check_kind(tree: exp.Expr) -> None:
    if isinstance(tree, _QUERY_TYPES):
        for node in tree.walk():
            if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Into)):
                raise ReadOnlyViolation(
                    "flightmesh is read-only: statements that write (here inside the query) are refused"
                )
        return
    if isinstance(tree, exp.Describe):
        raise UnsupportedQuery("only DESCRIBE product.table is supported; query information_schema.columns")
    for kind, name in _WRITES.items():
        if isinstance(tree, kind):
            raise ReadOnlyViolation(f"flightmesh is read-only: {name} statements are refused")
    raise ReadOnlyViolation(f"flightmesh is read-only: only queries may run, not {type(tree).__name__.upper()}")


def _parameter_name(node: exp.Expr) -> str:
    """"" for ``?``, the digits for ``$n``; named parameters raise."""
    name = node.name if isinstance(node, exp.Placeholder) else node.this.name if node.this else ""
    if name in ("", "?") or name.isdigit():
        return "" if name == "?" else name
    raise ParameterError(f"named parameter :{name} is not supported; use ? or $1")


def count_parameters(tree: exp.Expr) -> int:
    """Number of parameters: ``?`` placeholders in order, or the highest ``$n``."""
    return _count(tree.find_all(exp.Placeholder, exp.Parameter, bfs=False))


def _count(nodes: Iterable[exp.Expr]) -> int:
    positional = 0
    numbered = 0
    for node in nodes:
        name = _parameter_name(node)
        if name.isdigit():
            numbered = max(numbered, int(name))
        else:
            positional += 1
    if positional and numbered:
        raise ParameterError("mixing ? and $n parameters in one statement is not supported")
    return positional or numbered


def bind_parameters(tree: exp.Expr, values: Sequence[Any], expected: int | None = None) -> exp.Expr:
    """A copy of ``tree`` with every parameter replaced by its value as a typed literal.

    Values become AST literals, so the generator quotes them: a parameter can never change the
    shape of the statement. ``expected`` is the tree's count when known (``Statement.parameter_count``).
    """
    if expected is None:
        expected = count_parameters(tree)
    if len(values) != expected:
        raise ParameterError(f"the statement takes {expected} parameter(s), {len(values)} were bound")
    if expected == 0:
        return tree
    tree = copy_tree(tree)
    for index, node in enumerate(_in_text_order(tree)):
        name = _parameter_name(node)
        node.replace(literal(values[int(name) - 1 if name.isdigit() else index]))
    return tree


def _in_text_order(tree: exp.Expr) -> list[exp.Expr]:
    """Parameter nodes in the order they appear in the SQL text.

    The AST does not keep positions and its argument order is the parser's, not the text's
    (a WITH clause is attached last), but the generator prints in syntactic order: mark each
    node, print, and sort by where the marks land.
    """
    nodes = list(tree.find_all(exp.Placeholder, exp.Parameter))
    marked = copy_tree(tree)
    for index, node in enumerate(marked.find_all(exp.Placeholder, exp.Parameter)):
        node.replace(exp.Literal.string(f"\x00fm{index}\x00"))
    text = marked.sql(copy=False)  # a copy already
    order = sorted(range(len(nodes)), key=lambda index: text.index(f"\x00fm{index}\x00"))
    return [nodes[index] for index in order]


def literal(value: Any) -> exp.Expr:
    """The SQL literal for a bound parameter (``flightmesh.mesh.sqltypes.sql_literal``)."""
    try:
        return sql_literal(value)
    except UnsupportedLiteral:
        raise ParameterError(f"parameters of type {type(value).__name__} are not supported") from None
