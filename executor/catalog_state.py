"""The catalog's lifecycle: built at open, refreshed per product, retried, swapped atomically.

The catalog and the connectors it was built from are one ``MeshState`` value, replaced whole
under a lock and read with one attribute load: a query plans against one consistent pair even
while a refresh (or, next, a live reload of the descriptor) swaps in another.

Reading the state never does I/O. Products that were unreachable are asked again only by an
explicit ``retry_unavailable()``, which the runtime's query path calls (rate-limited to one
attempt every few seconds): the request that would fail on the missing product is the one that
pays for asking, and no background thread talks to engines nobody is using.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from flightmesh.connectors import Connector, open_connector
from flightmesh.connectors.virtual import VirtualConnector
from flightmesh.governance import check_policies
from flightmesh.governance.audit import AuditLog
from flightmesh.mesh import Catalog, CatalogTable, DescriptorError, EngineUnavailable, MeshSpec, ProductSpec

from .catalog_builder import build_catalog, describe_product, review_engine_account, unreachable_problem
from .contracts import contract_problems, with_contract_columns

__all__ = ["CatalogState", "MeshState", "open_connectors"]

log = logging.getLogger(__name__)

RETRY_UNAVAILABLE_SECONDS = 5.0
# What clients see of a product refused for its engine account (the server log has the findings).
REFUSED_ACCOUNT = "its engine account may do more than read the product's tables (see the server log)"


@dataclass(frozen=True)
class MeshState:
    catalog: Catalog
    connectors: Mapping[str, Connector]


def open_connectors(spec: MeshSpec, system: ProductSpec | None, audit: AuditLog) -> dict[str, Connector]:
    """One connector per product; ``system`` (flightmesh.audit) is answered from the audit log itself.

    Other virtual products (the discovery schemas) get theirs from the runtime.
    """
    connectors: dict[str, Connector] = {
        name: open_connector(product, spec.settings) for name, product in spec.products.items()
        if product is not system and product.engine.kind != "virtual"
    }
    if system is not None:
        connectors[system.name] = VirtualConnector(system.name, {"audit": audit.table})
    return connectors


class CatalogState:
    """Owns the current ``MeshState``; raises DescriptorError at build when policies do not bind."""

    def __init__(self, spec: MeshSpec, connectors: dict[str, Connector], *, allow_unavailable: bool = False) -> None:
        """``allow_unavailable``: a server engine that cannot be reached leaves its product
        unavailable (retried later) instead of refusing the mesh."""
        self.spec = spec
        self.allow_unavailable = allow_unavailable
        # Problems the descriptor's owner should see but that do not stop the mesh (flightmesh check prints them).
        self.warnings: list[str] = []
        self._connectors = connectors
        self._reviewed: set[str] = set()   # products whose engine account was reviewed
        # (product, table) lowered -> column lowered -> what became of it, for the errors of queries reading it
        self._vanished: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[MeshState], None]] = []
        self._last_retry = time.monotonic()
        built = build_catalog(spec, connectors, allow_unavailable=allow_unavailable)
        # The data contracts' column descriptions, tags and classifications join the descriptor's.
        built = Catalog(spec, {name: with_contract_columns(spec, name, _product_tables(built, name))
                               for name in spec.products if name not in built.unavailable}, built.unavailable)
        self._state = MeshState(built, MappingProxyType(connectors))
        problems = check_policies(self._state.catalog) + contract_problems(spec, connectors)
        for name in spec.products:
            if name not in self._state.catalog.unavailable:
                problem = self._review_account(name, at_open=not allow_unavailable)
                if problem is not None:
                    problems.append(problem)
        if problems:
            raise DescriptorError(problems)

    @property
    def state(self) -> MeshState:
        return self._state

    @property
    def catalog(self) -> Catalog:
        return self._state.catalog

    @property
    def connectors(self) -> dict[str, Connector]:
        # The live dict (callers have always been handed it); a swap replaces it whole.
        return self._connectors

    def on_change(self, listener: Callable[[MeshState], None]) -> None:
        """Call ``listener`` after each swap that brings tables back (e.g. to drop cached plans)."""
        self._listeners.append(listener)

    def swap(self, catalog: Catalog, connectors: dict[str, Connector] | None = None) -> None:
        """Replace the catalog (and the connectors with it) in one step."""
        with self._lock:
            if connectors is not None:
                self._connectors = connectors
            self._state = MeshState(catalog, MappingProxyType(self._connectors))
            state = self._state
        for listener in self._listeners:
            listener(state)

    # -- retries and refreshes ---------------------------------------------------------------------

    def retry_unavailable(self) -> Catalog:
        """Ask unreachable products again, at most every few seconds; the catalog after that."""
        catalog = self._state.catalog
        if catalog.unavailable and time.monotonic() - self._last_retry > RETRY_UNAVAILABLE_SECONDS:
            self._last_retry = time.monotonic()
            for product in list(catalog.unavailable):
                self.refresh(product)
        return self._state.catalog

    def refresh(self, product: str) -> Catalog:
        """Ask ``product``'s engine again for its tables (after an outage or a schema change)."""
        spec = self.spec.products[product]
        try:
            tables, problems = describe_product(spec, self._connectors[product])
        except EngineUnavailable as error:
            self._mark_unavailable(product, error.detail)
            return self._state.catalog
        for problem in problems:
            log.warning("%s", problem)
        tables = with_contract_columns(self.spec, product, tables)
        if product not in self._reviewed:  # unreachable at start (or refused): its account is reviewed now
            refused = self._review_account(product)
            if product not in self._reviewed:  # gone again while being asked: left unavailable
                return self._state.catalog
            if refused is not None:  # the server is up: the product stays unavailable, the rest serves
                self._reviewed.discard(product)  # asked again at the next retry: fixed grants need no restart
                if self._state.catalog.unavailable.get(product) != REFUSED_ACCOUNT:
                    log.error("%s", refused)
                self._mark_unavailable(product, REFUSED_ACCOUNT)
                return self._state.catalog
        with self._lock:
            current = self._state.catalog
            if product not in current.unavailable and _same_tables(_product_tables(current, product), tables):
                return current  # nothing changed: no swap, cached plans stay
            self._note_vanished(product, _product_tables(current, product), tables)
            catalog = current.replaced(product, tables)
        self.swap(catalog)
        return self._state.catalog

    def update_statistics(self, product: str, tables: Mapping[str, CatalogTable]) -> bool:
        """Swap in ``product``'s tables carrying new statistics (``executor.schema_refresh``); False,
        and nothing swapped, when its tables changed meanwhile (the schema refresh's business)."""
        with self._lock:
            current = self._state.catalog
            if product in current.unavailable or not _same_tables(_product_tables(current, product), tables):
                return False
            catalog = current.replaced(product, tables)
        self.swap(catalog)
        return True

    def refresh_all(self) -> list[str]:
        """Describe every product with an engine again; the products whose tables changed."""
        changed = []
        for product, spec in self.spec.products.items():
            if spec.engine.kind == "virtual" or product not in self._connectors:
                continue
            before = self._state.catalog
            try:
                after = self.refresh(product)
            except Exception:  # one product's failure never stops the others' refresh
                log.exception("refreshing the schema of product %s failed", product)
                continue
            if after is not before:
                changed.append(product)
        return changed

    def vanished_column(self, product: str, table: str, column: str) -> str | None:
        """What became of ``column`` of ``product.table`` if an engine refresh no longer found it."""
        return self._vanished.get((product.lower(), table.lower()), {}).get(column.lower())

    def vanished_tables(self, column: str) -> list[tuple[str, str, str]]:
        """(product, table, what became of it) of every table that lost ``column`` at a refresh."""
        return [(product, table, fate) for (product, table), columns in self._vanished.items()
                if (fate := columns.get(column.lower())) is not None]

    def _note_vanished(self, product: str, old: Mapping[str, CatalogTable], new: Mapping[str, CatalogTable]) -> None:
        for name, table in new.items():
            key = (product.lower(), name.lower())
            known = dict(self._vanished.get(key, {}))
            now = {field.lower() for field in table.schema.names}
            for column in list(known):
                if column in now:  # back again
                    del known[column]
            previous = old.get(name)
            if previous is not None:
                before = {field.lower(): field for field in previous.schema.names}
                lost = [field for lower, field in before.items() if lower not in now]
                added = [field for field in table.schema.names if field.lower() not in before]
                for field in lost:
                    known[field.lower()] = (f"renamed to {added[0]}" if len(lost) == 1 and len(added) == 1
                                            else "dropped or renamed")
                    log.warning("product %s: table %s no longer has column %s (%s)", product, name, field,
                                known[field.lower()])
            if known:
                self._vanished[key] = known
            else:
                self._vanished.pop(key, None)

    def _mark_unavailable(self, product: str, detail: str) -> None:
        with self._lock:
            if self._state.catalog.unavailable.get(product) != detail:
                replaced = self._state.catalog.replaced(product, None, unavailable=detail)
                self._state = MeshState(replaced, MappingProxyType(self._connectors))

    def _review_account(self, product: str, *, at_open: bool = False) -> str | None:
        """Review ``product``'s engine account once; the refusal as a descriptor problem, if any.

        ``engine.allow_privileged`` makes a refusal a warning. An engine that cannot be asked
        leaves the product unavailable and unreviewed: it is reviewed when it comes back
        (``at_open``, a strict open: it is a problem instead).
        """
        try:
            review = review_engine_account(self.spec.products[product], self._connectors[product])
        except EngineUnavailable as error:
            if at_open:
                return unreachable_problem(self.spec.products[product], error)
            log.warning("product %s is unavailable: %s", product, error.internal or error.detail)
            self._mark_unavailable(product, error.detail)
            return None
        self._reviewed.add(product)
        if review is None:
            return None
        if review.allowed:
            log.warning("%s", review.problem)
            self.warnings.append(review.problem)
            return None
        return review.problem


def _product_tables(catalog: Catalog, product: str) -> Mapping[str, CatalogTable]:
    return {table.name: table for table in catalog.all_tables() if table.product == product}


def _same_tables(old: Mapping[str, CatalogTable], new: Mapping[str, CatalogTable]) -> bool:
    """The same tables with the same schemas (names, types, nullability) and keys."""
    if set(old) != set(new):
        return False
    return all(old[name].schema.equals(new[name].schema) and old[name].keys == new[name].keys
               for name in new)
