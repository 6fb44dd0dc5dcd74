"""A data error as the client of one plan reads it (issue 10, item 3).

Connectors and the merge engine classify an engine's failure without knowing the statement the
client wrote (``connectors.engine_errors``). The executor knows the plan, and finishes the error:

- it quotes the failing value only when the value is one of the client's own literals
  (``DataError.candidate``, which the engine showed is a literal of the statement it ran; that
  statement also holds the policies' literals, which are not the client's to see);
- it names the product when the merge engine failed over the rows of one product alone (the
  planner kept a construct out of the engine, e.g. a cast PostgreSQL reads differently), so the
  message says where the data came from wherever the planner chose to compute.
"""

from __future__ import annotations

from flightmesh.connectors.engine_errors import client_literals
from flightmesh.mesh import DataError
from flightmesh.planner import Plan

__all__ = ["for_client"]


def for_client(error: DataError, plan: Plan) -> DataError:
    """``error``, with its value quoted if the client wrote it, and its product named if only one."""
    if error.candidate is not None:
        error = error.with_client_value(client_literals(plan.sql))
    products = {product for fragment in plan.fragments for product in fragment.products}
    if error.product is None and len(products) == 1:
        error = error.in_product(products.pop())
    return error
