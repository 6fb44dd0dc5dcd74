"""The planning pipeline: SQL text + principal + catalog -> Plan.

    parse (client dialect) -> bind parameters -> resolve tables (catalog, grants)
    -> lock down functions -> apply policies -> qualify columns -> the rules (``rules.RULES``:
    placement and the rewrites around it) -> render fragments

Each step is a small module of its own; this one only sequences them. It never runs a query:
the connectors are asked only for their identity, capabilities and table names.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError, UnsupportedError

from flightmesh.connectors import Connector, HasDistinctEstimates, KeyDelivery
from flightmesh.governance import apply_policies, check_field_access, check_fragment, check_statement, lock_down
from flightmesh.mesh import (
    CancelScope,
    Catalog,
    CatalogTable,
    ForbiddenFunction,
    Principal,
    QueryTimeout,
    UnsupportedQuery,
)

from . import rules
from .annotate import annotate, annotate_and_bind
from .binding import Binding, bind_columns
from .disclosure import disclose
from .dynamic import choose_key_filters, filters_rows, key_edges
from .early_keys import early_keys
from .estimate import column_statistics, estimate_rows
from .merge_sizes import merge_sizes
from .partition import partition_fragment
from .plan import LATE_KEY, Fragment, KeyFilter, LateRead, Plan
from .policy_placement import check_policies_in_engines
from .render import engine_tree, render
from .resolve import Resolution, qualify_query, resolve_tables
from .rules import Cut, RuleContext, exists_select_one, scanned_rows
from .split import FRAGMENT_KEY, FragmentDraft
from .statement import Statement, bind_parameters, parse_statement
from .treecopy import copy_tree

__all__ = ["PlanningContext", "plan_query", "plan_statement"]


@dataclass(frozen=True)
class PlanningContext:
    catalog: Catalog
    connectors: Mapping[str, Connector]     # product name -> connector
    dialect: str = "duckdb"                 # what clients write
    default_schema: str | None = None       # the session's current product, if any
    # Planning stops at the first step boundary past this deadline (time.monotonic()), or once
    # ``cancel`` is cancelled: planning is counted in the query's time limit.
    deadline: float | None = None
    cancel: CancelScope | None = None


def plan_query(sql: str, principal: Principal, context: PlanningContext,
               parameters: Sequence[Any] = ()) -> Plan:
    """Plan ``sql`` for ``principal``. Raises the mesh's QueryError family on bad input."""
    settings = context.catalog.spec.settings
    statement = parse_statement(sql, context.dialect, max_chars=settings.max_statement_chars,
                                max_nodes=settings.max_statement_nodes, owned=True)
    return plan_statement(statement, sql, principal, context, parameters)


def plan_statement(statement: Statement, sql: str, principal: Principal, context: PlanningContext,
                   parameters: Sequence[Any] = ()) -> Plan:
    """Plan a parsed statement. Raises the mesh's QueryError family on bad input."""
    try:
        return _plan_statement(statement, sql, principal, context, parameters)
    except RecursionError:
        raise UnsupportedQuery(TOO_DEEP) from None
    except SqlglotError as error:
        # sqlglot failing on a vetted tree (``DATE()`` with no argument made a transform parse
        # None): the statement cannot be planned, which is the client's to fix, not an incident.
        reason = str(error).split("\n")[0]
        raise UnsupportedQuery(f"the statement cannot be planned: {reason}") from None


TOO_DEEP = "the statement is nested too deeply (e.g. a chain of hundreds of UNIONs); split it into several"


def _plan_statement(statement: Statement, sql: str, principal: Principal, context: PlanningContext,
                    parameters: Sequence[Any]) -> Plan:
    started = time.perf_counter()
    settings = context.catalog.spec.settings
    deadline = time.monotonic() + settings.planning_timeout_seconds
    if context.deadline is not None:
        deadline = min(deadline, context.deadline)

    def step() -> None:
        if context.cancel is not None:
            context.cancel.check()
        if time.monotonic() > deadline:
            raise QueryTimeout("planning the query took longer than its time limit "
                               "(planning_timeout_seconds, query_timeout_seconds)")

    tree = bind_parameters(statement.tree, parameters, statement.parameter_count)
    if tree is statement.tree and not statement.owned:
        # The statement may be cached; planning rewrites in place. Parsed, it carries no inferred
        # types, which is what ``copy_tree`` saves copying: sqlglot's own (compiled) copy is faster.
        tree = tree.copy()
    # The closed language, before any name is resolved (DESIGN.md §6).
    _check_language(tree, settings.max_generated_values, context.dialect)
    written = written_names(tree, context.dialect)
    exists_select_one(tree)
    resolution = resolve_tables(tree, context.catalog, principal, default_schema=context.default_schema)
    lock_down(tree, principal)
    # Before policies wrap tables: a privacy-mode read becomes its bounded exact aggregate.
    privacy = rules.privacy_mode(tree, resolution, principal, context.catalog.spec, written, statement.explain)
    tree = apply_policies(tree, resolution.tables, principal, context.catalog.spec)
    step()
    tree = qualify_query(tree, resolution, context.dialect)
    # Mesh types on the nodes (engines' declared differences read them), and the column binding
    # the rules start from, built from one walk of the query's scopes.
    binding = annotate_and_bind(tree, resolution)
    names, dotted = _names_and_dots(tree)  # the rules' taken names; whether any field is read
    check_field_access(tree, _column_types(tree, resolution, binding, dotted))
    step()
    result_names = written if written is not None and len(written) == len(output_names(tree)) \
        else catalog_spelling(output_names(tree), resolution)
    if privacy is not None:  # the exact result's names; the release names what the client sees
        result_names = output_names(tree)

    def connector_for(table: CatalogTable) -> Connector:
        return context.connectors[table.product]

    assert isinstance(tree, exp.Query)
    rule_context = RuleContext(resolution=resolution, connector_for=connector_for,
                               pre_aggregate_min_rows=settings.pre_aggregate_min_rows,
                               select_rules=rules.SELECT_RULES,
                               merge_pre_aggregate_percent=settings.merge_pre_aggregate_percent,
                               # A privacy-mode release shows noisy aggregates only: no row is read late.
                               late_rows_max_limit=0 if privacy is not None else
                               min(settings.late_rows_max_limit, settings.dynamic_filter_max_keys),
                               dynamic_filter_max_keys=settings.dynamic_filter_max_keys,
                               dynamic_filter_min_probe_rows=settings.dynamic_filter_min_probe_rows,
                               engine_kind=lambda table: context.catalog.spec.products[table.product].engine.kind)
    cut = rules.run_rules(Cut(tree=tree, names=names, binding=binding), rule_context)
    step()
    # A late read's fragment is one of the plan's fragments, though the residual does not read it.
    drafts = list(cut.fragments) + ([cut.late.fragment] if cut.late is not None else [])
    residual_tree = cut.tree
    check_policies_in_engines(residual_tree, drafts,
                              reveal=principal.has_any(context.catalog.spec.auth.admin_roles))
    # Rows each fragment reads before any pre-aggregation: what key filters act on.
    scanned = scanned_rows(cut, rule_context)
    notes = list(cut.notes) + list(privacy.explain_notes() if privacy is not None else ())
    # No rule recorded the rows before it reduced them (one engine took the query whole):
    # ``scanned`` is then each fragment's estimate of its tree as it stands, already computed.
    known = scanned if cut.scanned is None else {}
    estimates = {draft.name: known[draft.name] if draft.name in known else estimate_rows(draft.tree, resolution)
                 for draft in drafts}
    if cut.late is not None:  # one row per key, at most the limit's
        name = cut.late.fragment.name
        estimates[name] = min(estimates[name], float(cut.late.limit))
    step()
    reveal = principal.has_any(context.catalog.spec.auth.admin_roles)
    fragments = tuple(_finish(draft, resolution, context.catalog, estimates[draft.name], reveal)
                      for draft in drafts)
    if privacy is not None:  # an estimate is the table's statistics: exact counts a privacy reader may not see
        fragments = tuple(replace(fragment, estimate_hidden=True) for fragment in fragments)
    step()
    residual = shown_residual = None
    key_filters: list[KeyFilter] = []
    materialize: frozenset[str] = frozenset()
    merge_rows: tuple[tuple[str, int], ...] = ()
    if residual_tree is not None:
        check_fragment(residual_tree, settings.max_generated_values)
        try:
            residual = copy_tree(residual_tree).sql(dialect="duckdb", identify=True,
                                                    unsupported_level=ErrorLevel.RAISE, copy=False)
        except UnsupportedError as error:
            raise UnsupportedQuery(f"cannot express the cross-product part of the query: {error}") from None
        shown_residual = disclose(residual_tree, residual, "duckdb", reveal=reveal).sql
        settings = context.catalog.spec.settings
        filtered = {draft.name for draft in drafts if filters_rows(draft.tree)}
        literal_only = {d.name: max(settings.dynamic_filter_max_literal_keys, d.connector.capabilities.literal_keys)
                        for d in drafts
                        if d.connector.capabilities.key_delivery == KeyDelivery.LITERALS}
        sampled = _sampled_reads(residual_tree)
        edges = [edge for edge in key_edges(residual_tree) if edge[2] not in sampled]
        key_filters = choose_key_filters(edges, scanned, settings.dynamic_filter_max_keys,
                                         settings.dynamic_filter_min_probe_rows, filtered, literal_only,
                                         _key_counts(edges, drafts, resolution))
        key_filters = [_with_distinct(k, next(d for d in drafts if d.name == k.probe), resolution)
                       for k in key_filters]
        if settings.dynamic_filter_early_keys:
            early = early_keys(key_filters, drafts, lambda tree: estimate_rows(tree, resolution), scanned,
                               settings.dynamic_filter_max_keys, literal_only, _key_counts(edges, drafts, resolution))
            key_filters = list(early.key_filters)
            for draft in early.drafts:
                lender = _finish(draft, resolution, context.catalog, estimate_rows(draft.tree, resolution), reveal)
                fragments += (replace(lender, keys_only=True,
                                      estimate_hidden=lender.estimate_hidden or privacy is not None),)
        references = Counter(node.meta.get(FRAGMENT_KEY) for node in residual_tree.find_all(exp.Table))
        # A fragment read inside a recursive WITH is scanned once per iteration: kept, like one read twice.
        references.update({name: 2 for name in _recursive_reads(residual_tree)})
        materialize = frozenset(name for name, count in references.items() if name and count > 1)
        merge_rows = merge_sizes(residual_tree, {draft.name: draft.tree for draft in drafts}, estimates, resolution)
    if privacy is None:  # (a privacy release reads a few exact aggregates: nothing to split)
        probes: dict[str, tuple[str, ...]] = {}
        for key_filter in key_filters:
            probes[key_filter.probe] = (*probes.get(key_filter.probe, ()), key_filter.probe_column)
        fragments = tuple(partition_fragment(fragment, resolution, settings, probes.get(fragment.name, ()),
                                             sum(1 for other in fragments if other.connector is fragment.connector) - 1)
                          for fragment in fragments)
    return Plan(
        sql=sql, fragments=fragments, residual=residual, output_names=result_names, explain=statement.explain,
        key_filters=tuple(key_filters), materialize=materialize, merge_rows=merge_rows, notes=tuple(notes),
        planning_ms=(time.perf_counter() - started) * 1000.0, shown_residual=shown_residual,
        reveal_policies=reveal, privacy=privacy, late=_late_read(cut.late),
    )


def _late_read(late: rules.LateDraft | None) -> LateRead | None:
    if late is None:
        return None
    final = late.final.sql(dialect="duckdb", identify=True, unsupported_level=ErrorLevel.RAISE)
    return LateRead(fragment=late.fragment.name, key=LATE_KEY, final=final, limit=late.limit)


def _key_counts(edges: list[tuple[str, str, str, str]], drafts: list[FragmentDraft],
                resolution: Resolution) -> dict[tuple[str, str], float]:
    """The distinct keys each build column is expected to lend, from the catalog's statistics."""
    trees = {draft.name: draft.tree for draft in drafts}
    counts: dict[tuple[str, str], float] = {}
    for build, column, _, _ in edges:
        stats = column_statistics(trees[build], column, resolution) if build in trees else None
        if stats is not None and stats.distinct:
            counts[(build, column)] = float(stats.distinct)
    return counts


def _sampled_reads(tree: exp.Expr) -> set[str]:
    """Fragments the residual samples (TABLESAMPLE on the reference, USING SAMPLE on its SELECT):
    a key filter would change the rows the sample draws from, so they are never probed."""
    found = {node.meta[FRAGMENT_KEY] for node in tree.find_all(exp.Table)
             if node.meta.get(FRAGMENT_KEY) and node.args.get("sample") is not None}
    for select in tree.find_all(exp.Select):
        if select.args.get("sample") is not None:
            found |= {node.meta[FRAGMENT_KEY] for node in select.find_all(exp.Table) if node.meta.get(FRAGMENT_KEY)}
    return found


def _recursive_reads(tree: exp.Expr) -> set[str]:
    """Fragments read inside a recursive WITH of ``tree``."""
    return {node.meta[FRAGMENT_KEY] for with_ in tree.find_all(exp.With) if with_.args.get("recursive")
            for node in with_.find_all(exp.Table) if node.meta.get(FRAGMENT_KEY)}


def _check_language(tree: exp.Expr, max_generated_values: int, dialect: str) -> None:
    """The closed language, its refusals naming the dialect the statement was read in: each
    dialect's parser maps its syntax onto sqlglot's classes, so whether a construct is vetted
    depends on the dialect too (Trino's ``approx_percentile`` is vetted, ``ai_classify`` is not)."""
    try:
        check_statement(tree, max_generated_values)
    except (ForbiddenFunction, UnsupportedQuery) as error:
        raise type(error)(f"{error} (the statement was read as {dialect} SQL)") from None


def _names_and_dots(tree: exp.Expr) -> tuple[frozenset[str], bool]:
    """Every identifier's name in ``tree`` (lower-cased), and whether it holds a ``Dot`` (a
    struct field read): one walk for both."""
    names: set[str] = set()
    dotted = False
    for node in tree.walk():
        if isinstance(node, exp.Identifier):
            names.add(node.name.lower())
        elif isinstance(node, exp.Dot):
            dotted = True
    return frozenset(names), dotted


def _column_types(tree: exp.Expr, resolution: Resolution, known: Binding | None,
                  dotted: bool) -> Callable[[exp.Column], pa.DataType | None]:
    """A column's declared type, when it reads a catalog table directly (None otherwise).
    ``dotted``: ``tree`` holds a ``Dot``; with none, no field access needs a type."""
    if not dotted:
        return lambda column: None
    binding = known or bind_columns(tree)

    def type_of(column: exp.Column) -> pa.DataType | None:
        source = binding.source_of(column)
        table = resolution.of(source) if source is not None else None
        field = table.field_named(column.name) if table is not None else None
        return field.type if field is not None else None

    return type_of


def written_names(tree: exp.Expr, dialect: str) -> tuple[str, ...] | None:
    """Result names as the client wrote them (alias, column, or the expression's text).

    None when the outermost SELECT has a star: its names come from the catalog instead.
    """
    select = _outermost_select(tree)
    if not isinstance(select, exp.Select):
        return None
    names = []
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and projection.is_star):
            return None
        if isinstance(projection, (exp.Alias, exp.Column)):
            names.append(projection.alias_or_name)
        else:
            names.append(projection.sql(dialect=dialect))
    return tuple(names)


def catalog_spelling(names: tuple[str, ...], resolution: Resolution) -> tuple[str, ...]:
    """Qualified names are lower-cased; give back the engine's spelling where a column has one."""
    spelled: dict[str, str] = {}
    for table in resolution.tables.values():
        for item in table.schema:
            spelled.setdefault(item.name.lower(), item.name)
    return tuple(spelled.get(name.lower(), name) for name in names)


def _outermost_select(tree: exp.Expr) -> exp.Expr:
    while isinstance(tree, (exp.SetOperation, exp.Subquery)):
        tree = tree.this
    return tree


def output_names(tree: exp.Expr) -> tuple[str, ...]:
    """The result's column names, from the qualified query's outermost projections."""
    select = _outermost_select(tree)
    if isinstance(select, exp.Select):
        return tuple(projection.alias_or_name for projection in select.expressions)
    if isinstance(select, exp.Values):
        width = len(select.expressions[0].expressions) if select.expressions else 0
        return tuple(f"col{index}" for index in range(width))
    return ()


def _with_distinct(key_filter: KeyFilter, probe: FragmentDraft, resolution: Resolution) -> KeyFilter:
    """Attach the probe column's distinct count, for engines that report one (``distinct_estimate``)."""
    estimate = probe.connector.distinct_estimate if isinstance(probe.connector, HasDistinctEstimates) else None
    if estimate is None or not probe.connector.capabilities.index_driven or not isinstance(probe.tree, exp.Select):
        return key_filter
    binding = bind_columns(probe.tree)
    for projection in probe.tree.expressions:
        column = projection.this if isinstance(projection, exp.Alias) else projection
        if projection.alias_or_name != key_filter.probe_column or not isinstance(column, exp.Column):
            continue
        source = binding.source_of(column)
        table = resolution.of(source) if source is not None else None
        field = table.field_named(column.name) if table is not None else None
        if table is not None and field is not None:
            # The catalog's statistics when it has them: planning never waits for an engine.
            known = table.column_statistics(field.name)
            distinct = known.distinct if known is not None and known.distinct is not None else None
            clustered = probe.connector.capabilities.clustered_primary_key and \
                [name.lower() for name in table.keys.primary_key[:1]] == [field.name.lower()]
            return replace(key_filter, probe_distinct=distinct if distinct is not None
                           else estimate(table.spec.source, field.name), probe_clustered=clustered)
    return key_filter


def _finish(draft: FragmentDraft, resolution: Resolution, catalog: Catalog, estimate: float,
            reveal: bool) -> Fragment:
    connector = draft.connector
    capabilities = connector.capabilities
    if capabilities.faithful is not None:
        # Again, on the fragment as the rules left it: nodes they built (a pre-aggregation's
        # grouping columns) carry no type yet, and a faithful rendering needs every string's.
        # The nodes the whole query's annotation typed keep their types.
        annotate(draft.tree, resolution, only_missing=True)
    tree = engine_tree(draft.tree, connector, resolution)
    # Nothing reaches an engine unvetted, whoever added it (policies, rewrites, key filters).
    check_fragment(tree, catalog.spec.settings.max_generated_values)
    if capabilities.faithful is not None:
        # The engine's own rendering of the mesh's meaning (after the check: what it adds, such
        # as a MariaDB collation, is engine SQL, not the mesh language).
        tree = capabilities.faithful(tree)
    sql = render(tree, capabilities.dialect)
    typing_sql = None
    typing_tables: tuple[tuple[str, Any], ...] = ()
    if not capabilities.typed_results:
        typing_sql, typing_tables = _typing(draft.tree, resolution)
    products = tuple(draft.products)
    engine = catalog.spec.products[products[0]].engine.kind if products else "unknown"
    assert isinstance(tree, exp.Query)
    shown = disclose(tree, sql, capabilities.dialect, reveal=reveal)
    return Fragment(
        name=draft.name, connector=connector, engine=engine, products=products,
        tables=tuple(f"{t.product}.{t.name}" for t in draft.tables), sql=sql, tree=tree,
        dialect=capabilities.dialect, output=output_names(tree), estimate=estimate, typing_sql=typing_sql,
        typing_tables=typing_tables, shown_sql=shown.sql, policies=shown.policies,
        estimate_hidden=shown.row_filtered and not reveal,
    )


def _typing(tree: exp.Expr, resolution: Resolution) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """The fragment for DuckDB over stand-in tables named t0, t1, ... with the catalog schemas."""
    tree = copy_tree(tree)
    tables: dict[str, tuple[str, Any]] = {}
    for node in list(tree.find_all(exp.Table)):
        table = resolution.of(node)
        if table is None or node.meta.get(FRAGMENT_KEY):
            continue
        key = f"{table.product}.{table.name}"
        if key not in tables:
            tables[key] = (f"t{len(tables)}", table.schema)
        stand_in = exp.Table(this=exp.to_identifier(tables[key][0], quoted=True), alias=node.args.get("alias"),
                             joins=node.args.get("joins"))  # a parenthesized join tree keeps its joins
        node.replace(stand_in)
    return tree.sql(dialect="duckdb", identify=True, copy=False), tuple(tables.values())  # a copy already
