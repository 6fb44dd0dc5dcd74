"""Policies as a pure AST rewrite: every governed table becomes a subquery that filters, then masks.

Run after name resolution (every table node is ``"product"."table"`` with its catalog key in
``node.meta``) and before qualification. For one principal, each table reference with an
applicable policy is replaced, in place, by::

    (SELECT <visible columns, masked> FROM "product"."table" AS "table" WHERE <row filters>) AS alias

Example (``support_emea`` may see EMEA customers; ``phone`` masked; ``ssn`` denied)::

    SELECT c.name, c.phone FROM "crm"."customers" AS c WHERE c.phone LIKE '+44%'
    ->
    SELECT c.name, c.phone FROM (
      SELECT CASE WHEN customers.region = 'EMEA' THEN customers.id END AS id,
             CASE WHEN customers.region = 'EMEA' THEN customers.name END AS name,
             CASE WHEN customers.region = 'EMEA' THEN '***' END AS phone,
             CASE WHEN customers.region = 'EMEA' THEN customers.region END AS region
      FROM "crm"."customers" AS customers WHERE customers.region = 'EMEA'
    ) AS c WHERE c.phone LIKE '+44%'

The rules (DESIGN.md §6, issue 5), each decided by one small function below:

* ``row_filters_for``: the table's ``row_filters`` whose ``for`` roles the principal holds (all
  of them when ``for`` is omitted), AND-ed: several filters only ever show fewer rows.
* ``denied_columns``: ``deny_columns`` unless the principal holds an ``except`` role. A denied
  column is absent from the projection: ``SELECT *`` omits it and naming it fails exactly as a
  column that does not exist. Deny beats grant: no mask exemption brings it back.
* ``masks_for``: the product's masks on the column and the mesh-wide ``tag_masks`` of the
  column's tags, unless exempt by ``except``; several combine as ``masks.most_restrictive``.

Filter first, then mask: the WHERE reads raw values, the projection shows masked ones; the user's
query sees only the projection.

**Fail closed on names.** A mask, deny or tagged column naming a column the engine's table does
not have would protect nothing (the column may have been renamed, and its new name would be
served raw), and a row filter naming one cannot run. ``check_policies`` reports them when the
mesh opens; a table described later (a product unreachable at start, a schema change) whose
policies name a missing column is refused to every query (``policy_for`` raises PolicyError).

**Names.** ``TablePolicy.applied`` holds the audit labels (``row_filter crm.customers[0]``);
``TablePolicy.display``, one per label, what EXPLAIN shows: the entry's ``name`` when it has one
(``row filter `legal_hold` on crm.customers``), else a default that stays the same as long as
the descriptor does (``row filter #2 on crm.customers``: the second filter on that table).

**User predicates never see hidden rows.** Engines flatten subqueries and may evaluate the
user's conjuncts before (or instead of after) the row filter; a failing cast or a division by
zero on a hidden row would then reveal that row through an error, or through whether an error
happened. So when a row filter applies, every projected column is guarded:
``CASE WHEN <filter> THEN <value> END``. A predicate pushed below the filter by any optimizer
must substitute those expressions and so sees only NULLs on hidden rows — a property of SQL
semantics, not of one engine's optimizer, which is why it also holds for PostgreSQL, SQLite and
MySQL without per-engine optimization fences. The cost: predicates on guarded columns cannot
use indexes or zone maps of the governed table (the filter itself still can).

Policy SQL is trusted descriptor text, parsed in the mesh's dialect; it may name the principal
(``principal_sql``). It is never subject to the client function allow-list, but it may read
only the table's own columns: subqueries and table references are refused when the mesh opens
(``check_policies``), and a policy that cannot be applied fails the query closed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from flightmesh.mesh import (
    AccessDenied,
    Catalog,
    CatalogTable,
    FlightmeshError,
    MeshSpec,
    Principal,
    UnsupportedQuery,
)
from flightmesh.mesh.sqltypes import portable_sql_type

from .masks import Mask, most_restrictive
from .principal_sql import PolicySqlError, bind_principal

__all__ = [
    "POLICY_DISPLAY_KEY",
    "POLICY_KEY",
    "TAG_MASK_COLUMN",
    "PolicyError",
    "TablePolicy",
    "apply_policies",
    "check_policies",
    "denied_columns",
    "masks_for",
    "missing_columns",
    "policies_applied",
    "policy_for",
    "row_filters_for",
    "visible_schema",
    "wrap_table",
]

log = logging.getLogger(__name__)

POLICY_KEY = "flightmesh.policy"  # meta on the Subquery standing for a governed table: what applied
POLICY_DISPLAY_KEY = "flightmesh.policy.display"  # beside POLICY_KEY: the same, named for people
TABLE_KEY = "flightmesh.table"    # the planner's resolved-table meta key (planner.resolve.TABLE_KEY)
TAG_MASK_COLUMN = "value"         # in a tag mask's ``with``, the column being masked

# Table modifiers that would change what the policy reads (time travel, partitions, hints):
# refused on governed tables rather than moved inside or outside the policy by guesswork.
_UNSUPPORTED_TABLE_ARGS = ("hints", "system_time", "version", "when", "changes", "partition", "indexed",
                           "only", "format", "pattern", "rows_from", "ordinality", "joins", "laterals")


class PolicyError(ValueError):
    """A policy of the descriptor cannot be applied to the table as the engine reports it."""


@dataclass(frozen=True)
class TablePolicy:
    """What one principal may see of one table.

    ``applied`` and ``display`` are parallel: for each policy that applied, in the same order,
    its audit label and its name for people (EXPLAIN)::

        applied: ("row_filter crm.customers[0]", "deny crm.customers.ssn",
                  "mask crm.customers.phone", "tag_mask pii crm.customers.email")
        display: ("row filter `legal_hold` on crm.customers", "deny crm.customers.ssn",
                  "mask `phone_last4` on crm.customers.phone", "tag mask `pii` on crm.customers.email")

    A column with several masks lists every mask considered (``masks.MaskChoice.sources``).
    """

    table: CatalogTable
    row_filter: exp.Expr | None                    # principal bound; columns name the table
    columns: tuple[tuple[str, exp.Expr | None], ...]  # visible column -> mask (None: raw)
    applied: tuple[str, ...]                              # e.g. "row_filter crm.customers[0]"
    display: tuple[str, ...]                              # e.g. "row filter `legal_hold` on crm.customers"

    @property
    def governed(self) -> bool:
        return bool(self.applied)


@dataclass(frozen=True)
class _Rule:
    """One filter or mask entry as it applies to a table: labels and SQL."""

    label: str                  # the audit label (TablePolicy.applied)
    display: str                # the name for people (TablePolicy.display)
    sql: str
    tag_column: str | None = None  # a tag mask: the column ``value`` stands for


# -- the rules ---------------------------------------------------------------------------------------


def row_filters_for(table: CatalogTable, principal: Principal, spec: MeshSpec) -> list[tuple[str, str]]:
    """(label, SQL) of the row filters that apply to ``principal`` on ``table``.

    ``for: [support_emea]`` applies to holders of that role; no ``for`` applies to everyone::

        >>> row_filters_for(customers, Principal("eve", frozenset({"support_emea"})), spec)
        [("row_filter crm.customers[0]", "region = 'EMEA'")]
    """
    return [(rule.label, rule.sql) for rule in _row_filter_rules(table, principal, spec)]


def denied_columns(table: CatalogTable, principal: Principal, spec: MeshSpec) -> dict[str, str]:
    """Lower-cased column name -> label, for every deny that holds for ``principal``.

    Example: ``{table: customers, column: ssn, except: [compliance]}`` denies ``ssn`` to all
    but holders of ``compliance``: ``{"ssn": "deny crm.customers.ssn"}``.
    """
    return {column: label for column, (label, _) in _deny_rules(table, principal, spec).items()}


def masks_for(table: CatalogTable, column: str, principal: Principal,
              spec: MeshSpec) -> list[tuple[str, str, bool]]:
    """(label, SQL, is a tag mask) of every mask on ``column`` that applies to ``principal``.

    The product's own masks come first, then tag masks in descriptor order::

        >>> masks_for(customers, "email", bob, spec)
        [("tag_mask pii crm.customers.email", "NULL", True)]
    """
    return [(rule.label, rule.sql, rule.tag_column is not None)
            for rule in _mask_rules(table, column, principal, spec)]


# ``principal=None`` below: every entry, whatever its ``for`` and ``except`` (check_policies).


def _row_filter_rules(table: CatalogTable, principal: Principal | None, spec: MeshSpec) -> list[_Rule]:
    product = spec.products[table.product]
    found = []
    ordinal = 0
    for index, item in enumerate(product.policies.row_filters):
        if item.table != table.name:
            continue
        ordinal += 1
        if principal is None or item.for_roles is None or principal.has_any(item.for_roles):
            display = (f"row filter `{item.name}` on {table.qualified_name}" if item.name else
                       f"row filter #{ordinal} on {table.qualified_name}")
            found.append(_Rule(f"row_filter {table.qualified_name}[{index}]", display, item.where))
    return found


def _deny_rules(table: CatalogTable, principal: Principal | None, spec: MeshSpec) -> dict[str, tuple[str, str]]:
    """Lower-cased column -> (label, display); the first applicable deny of a column names it."""
    product = spec.products[table.product]
    found: dict[str, tuple[str, str]] = {}
    for item in product.policies.deny_columns:
        if item.table != table.name or (principal is not None and principal.has_any(item.except_roles)):
            continue
        field = table.field_named(item.column)
        column = f"{table.qualified_name}.{field.name if field is not None else item.column}"
        display = f"deny `{item.name}` on {column}" if item.name else f"deny {column}"
        found.setdefault(item.column.lower(), (f"deny {table.qualified_name}.{item.column}", display))
    return found


def _mask_rules(table: CatalogTable, column: str, principal: Principal | None, spec: MeshSpec) -> list[_Rule]:
    """The product's masks on ``column`` (the engine's spelling), then the tag masks of its tags."""
    product = spec.products[table.product]
    qualified = f"{table.qualified_name}.{column}"
    own = [item for item in product.policies.masks
           if item.table == table.name and item.column.lower() == column.lower()]
    found = []
    for ordinal, item in enumerate(own, start=1):
        if principal is not None and principal.has_any(item.except_roles):
            continue
        display = (f"mask `{item.name}` on {qualified}" if item.name else
                   f"mask #{ordinal} on {qualified}" if len(own) > 1 else f"mask on {qualified}")
        found.append(_Rule(f"mask {table.qualified_name}.{item.column}", display, item.with_))
    tags = table.tags_of(column)
    found += [
        _Rule(f"tag_mask {item.tag} {qualified}", f"tag mask `{item.tag}` on {qualified}", item.with_,
              tag_column=column)
        for item in spec.tag_masks
        if item.tag in tags and (principal is None or not principal.has_any(item.except_roles))
    ]
    return found


def missing_columns(table: CatalogTable, spec: MeshSpec) -> list[str]:
    """Problems ("where: what") for every column the policies of ``table`` name but its engine lacks.

    Masks, denies and tagged columns (``columns:`` entries with tags, which tag masks rely on)
    are compared case-insensitively, as SQL resolves unquoted names. A row filter's or mask's SQL
    is checked by binding it (``check_policies``, ``policy_for``).
    """
    product = spec.products[table.product]
    problems = []
    entries = [(item.origin, "mask", item.column) for item in product.policies.masks if item.table == table.name]
    entries += [(item.origin, "deny", item.column) for item in product.policies.deny_columns
                if item.table == table.name]
    for origin, kind, column in entries:
        if table.field_named(column) is None:
            where = f"{origin}.column" if origin else f"{product.origin or product.name}: {kind} {column}"
            problems.append(f"{where}: {table.qualified_name} has no column {column!r}")
    for column, column_spec in table.columns.items():
        if column_spec.tags and table.field_named(column) is None:
            problems.append(f"{product.origin or product.name}.columns.{table.name}.{column}: "
                            f"{table.qualified_name} has no column {column!r} (its tags would protect nothing)")
    return problems


# -- compiling one table's policy ----------------------------------------------------------------------


def policy_for(table: CatalogTable, principal: Principal, spec: MeshSpec) -> TablePolicy:
    """The policy of ``table`` for ``principal``. Raises PolicyError when it cannot be applied."""
    missing = missing_columns(table, spec)
    if missing:  # the table changed under its policies: serve it to nobody until they are fixed
        raise PolicyError(missing[0])
    alias = table.name
    applied: list[str] = []
    display: list[str] = []
    filters = []
    for rule in _row_filter_rules(table, principal, spec):
        filters.append(_bind(_parse(rule.sql, spec.sql_dialect), table, alias, principal, tag_column=None))
        applied.append(rule.label)
        display.append(rule.display)
    denied = _deny_rules(table, principal, spec)
    for name in sorted(denied):
        applied.append(denied[name][0])
        display.append(denied[name][1])
    columns: list[tuple[str, exp.Expr | None]] = []
    for field in table.schema:
        if field.name.lower() in denied:
            continue
        rules = _mask_rules(table, field.name, principal, spec)
        masks = [
            Mask(rule.label, _bind(_parse(rule.sql, spec.sql_dialect), table, alias, principal,
                                   tag_column=rule.tag_column))
            for rule in rules
        ]
        choice = most_restrictive(masks)
        if choice is None:
            columns.append((field.name, None))
            continue
        applied += list(choice.sources)
        display += [rule.display for rule in rules]  # choice.sources: every mask, in order
        expression = choice.expression
        if isinstance(expression, exp.Null):
            expression = _typed_null(field.type)
        columns.append((field.name, expression))
    if not columns:
        raise PolicyError(f"every column of {table.qualified_name} is denied")
    row_filter = exp.and_(*filters, copy=False) if filters else None
    return TablePolicy(table=table, row_filter=row_filter, columns=tuple(columns), applied=tuple(applied),
                       display=tuple(display))


@functools.lru_cache(maxsize=1024)
def _parsed(text: str, dialect: str) -> exp.Expr:
    try:
        return sqlglot.parse_one(text, read=dialect, into=exp.Condition)
    except ParseError as error:
        raise PolicyError(f"policy SQL does not parse: {error}") from None


def _parse(text: str, dialect: str) -> exp.Expr:
    return _parsed(text, dialect).copy()  # the cached tree is shared: hand out copies


def _bind(expression: exp.Expr, table: CatalogTable, alias: str, principal: Principal, *,
          tag_column: str | None) -> exp.Expr:
    """Principal values as literals; every column bound to ``alias`` with the engine's spelling.

    In a tag mask (``tag_column`` given) the only column is ``value``, the masked column.
    """
    if expression.find(exp.Query, exp.Table) is not None:
        raise PolicyError("policy SQL may read only the table's own columns (no subqueries or tables)")
    try:
        bound = bind_principal(expression, principal)
    except PolicySqlError as error:
        raise PolicyError(str(error)) from None
    for column in list(bound.find_all(exp.Column)):
        name = column.name
        if tag_column is not None:
            if name.lower() != TAG_MASK_COLUMN or column.table:
                raise PolicyError(f"a tag mask may read only {TAG_MASK_COLUMN!r}, the masked column; "
                                  f"it reads {column.sql()!r}")
            name = tag_column
        elif column.table and column.table.lower() != table.name.lower():
            raise PolicyError(f"policy SQL names another table: {column.sql()!r}")
        field = table.field_named(name)
        if field is None:
            raise PolicyError(f"{table.qualified_name} has no column {name!r}")
        column.replace(exp.column(exp.to_identifier(field.name), table=exp.to_identifier(alias)))
    return bound


def _typed_null(data_type: pa.DataType) -> exp.Expr:
    """``CAST(NULL AS <the column's type>)``: a NULL mask keeps the column's type for clients."""
    name = portable_sql_type(data_type)
    return exp.cast(exp.Null(), name) if name is not None else exp.Null()


# -- the rewrite -------------------------------------------------------------------------------------------


def wrap_table(node: exp.Table, policy: TablePolicy) -> exp.Subquery:
    """Replace ``node`` (in place) by the policy subquery; return it. See the module docstring."""
    for key in _UNSUPPORTED_TABLE_ARGS:
        if node.args.get(key):
            raise UnsupportedQuery("table modifiers (hints, time travel, partitions) are not supported "
                                   f"on {policy.table.qualified_name}: its rows are governed by policies")
    inner_alias = policy.table.name
    inner = exp.Table(this=node.this.copy(), db=node.args["db"].copy() if node.args.get("db") else None,
                      alias=exp.TableAlias(this=exp.to_identifier(inner_alias)))
    inner.meta.update(node.meta)  # the splitter finds the engine through the table key
    guard = policy.row_filter
    projections = []
    for name, mask in policy.columns:
        value = mask.copy() if mask is not None else exp.column(exp.to_identifier(name),
                                                                  table=exp.to_identifier(inner_alias))
        if guard is not None:
            value = exp.Case(ifs=[exp.If(this=guard.copy(), true=value)])
        projections.append(exp.alias_(value, exp.to_identifier(name)))
    select = exp.Select(expressions=projections).from_(inner, copy=False)
    if guard is not None:
        select = select.where(guard.copy(), copy=False)
    alias = node.args.get("alias")
    subquery = exp.Subquery(this=select, alias=alias.copy() if alias is not None else
                            exp.TableAlias(this=exp.to_identifier(policy.table.name)))
    for key in ("pivots", "sample"):
        if node.args.get(key):
            subquery.set(key, node.args[key])
    subquery.meta[POLICY_KEY] = policy.applied
    subquery.meta[POLICY_DISPLAY_KEY] = policy.display
    node.replace(subquery)
    return subquery


def apply_policies(tree: exp.Expr, tables: Mapping[str, CatalogTable], principal: Principal,
                   spec: MeshSpec) -> exp.Expr:
    """Wrap every governed table of the resolved ``tree`` (in place); return the tree.

    ``tables`` maps each resolved table key ("product.table", the planner's ``Resolution.tables``)
    to its catalog entry. A policy that cannot be applied fails the query (AccessDenied) rather
    than serve the table unprotected; the reason goes to the server log, not to the client.
    """
    cache: dict[str, TablePolicy] = {}
    for node in list(tree.find_all(exp.Table)):
        key = node.meta.get(TABLE_KEY)
        if not isinstance(key, str) or key not in tables:
            continue
        policy = cache.get(key)
        if policy is None:
            try:
                policy = policy_for(tables[key], principal, spec)
            except PolicyError as error:
                log.error("policy of %s cannot be applied: %s", key, error)
                raise AccessDenied(f"the policies of {key} cannot be applied; the product's owner must fix "
                                   "them (details in the server log)") from None
            cache[key] = policy
        if policy.governed:
            wrap_table(node, policy)
    return tree


def visible_schema(table: CatalogTable, principal: Principal, spec: MeshSpec) -> pa.Schema:
    """``table``'s schema as ``principal`` sees it: denied columns gone, masked columns retyped.

    For metadata (GetTables, GetSchema): a denied column must not be listed any more than it can
    be queried. A NULL mask keeps the type; a mask built from a string literal or ``||`` is a
    string; any other mask keeps the column's type (the exact type of an arbitrary expression
    would need the engine; a prepared ``SELECT *`` gives it).
    """
    try:
        policy = policy_for(table, principal, spec)
    except PolicyError:
        return pa.schema([])
    fields = []
    for name, mask in policy.columns:
        field = table.schema.field(name)
        if mask is not None and _is_text(mask) and not pa.types.is_string(field.type):
            field = field.with_type(pa.string())
        hidden = mask is not None or policy.row_filter is not None  # NULLs where there were none
        fields.append(field.with_nullable(True) if hidden else field)
    return pa.schema(fields)


def _is_text(mask: exp.Expr) -> bool:
    return isinstance(mask, exp.DPipe) or (isinstance(mask, exp.Literal) and mask.is_string)


def policies_applied(catalog: Catalog, principal: Principal, tables: Iterable[str]) -> list[str]:
    """The labels of every policy that applies to ``principal`` on ``tables`` ("product.table")."""
    labels: list[str] = []
    for key in tables:
        product, _, name = key.partition(".")
        try:
            table = catalog.lookup(product, name, principal)
            applied = policy_for(table, principal, catalog.spec).applied
        except FlightmeshError:
            continue  # not visible (any more): nothing applied that the audit could name
        except PolicyError:
            labels.append(f"unapplicable policy {key}")
            continue
        labels += [label for label in applied if label not in labels]
    return labels


def check_policies(catalog: Catalog) -> list[str]:
    """Every policy that could not be applied to the tables as the engines report them.

    Every entry is checked, whatever its ``for`` and ``except`` roles: each filter and mask is
    bound once (for a principal with no roles), and every column a mask, deny or tag names must
    exist (``missing_columns``). Run when the mesh opens; the problems stop it from opening.
    Products unreachable then are checked when they are next described, by ``policy_for``: their
    tables fail closed until the policies bind.
    """
    spec = catalog.spec
    problems: list[str] = []
    probe = Principal(name="\x00policy-check", roles=frozenset())
    for table in catalog.all_tables():
        product = spec.products.get(table.product)
        if product is None:
            continue
        problems += missing_columns(table, spec)
        rules = _row_filter_rules(table, None, spec)
        for field in table.schema:
            rules += _mask_rules(table, field.name, None, spec)
        for rule in rules:
            try:
                _bind(_parse(rule.sql, spec.sql_dialect), table, table.name, probe, tag_column=rule.tag_column)
            except PolicyError as error:
                problems.append(f"{product.origin}: {rule.label}: {error}")
    _warn_unused_tags(spec)
    return problems


def _warn_unused_tags(spec: MeshSpec) -> None:
    """Log tag masks whose tag no column of any product carries.

    Only a warning, unlike a mask on a missing column: a tag rule is mesh-wide by design and may
    be written before the products whose columns will carry the tag (or for a product whose
    engine is unreachable now). It masks nothing, so it reveals nothing either; but it may be a
    misspelling (tags are compared exactly), which the warning makes visible.
    """
    tags = {tag for product in spec.products.values() for columns in product.columns.values()
            for column in columns.values() for tag in column.tags}
    for index, item in enumerate(spec.tag_masks):
        if item.tag not in tags:
            log.warning("governance.tag_masks[%d]: no column carries tag %r; the rule masks nothing",
                        index, item.tag)
