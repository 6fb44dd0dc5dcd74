"""A digest of everything in a mesh that decides what a plan may show, carried in every ticket.

A ticket holds a plan with the policies of the mesh it was planned under. Replicas redeem it only
while their mesh has the same fingerprint: after a reload that changes a policy, a grant, a user's
roles, a mask or a privacy setting, every older ticket is refused (the client runs the query again
and gets the new policy), on this replica and on the others.

Covered: the mesh's name and dialect, every product (tables, columns and their tags, access,
policies, privacy, contract; of the engine only its kind), users (names, roles, attributes; never
passwords), tag masks and the admin roles. Left out, so replicas on different machines agree:
file locations (``origin`` line numbers, paths, engine URIs), settings and secrets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from flightmesh.mesh import MeshSpec

__all__ = ["mesh_fingerprint"]

_LEFT_OUT = frozenset({"origin", "password", "password_hash", "secret"})


def mesh_fingerprint(spec: MeshSpec) -> str:
    governed = {
        "name": spec.name,
        "sql_dialect": spec.sql_dialect,
        "products": {name: {**_canonical(product), "engine": product.engine.kind}
                     for name, product in spec.products.items()},
        "users": {name: {"roles": sorted(user.roles), "attributes": _canonical(user.attributes)}
                  for name, user in spec.users.items()},
        "tag_masks": _canonical(spec.tag_masks),
        "admin_roles": sorted(spec.auth.admin_roles),
    }
    text = json.dumps(governed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _canonical(value: Any) -> Any:
    """JSON-ready, in one order whatever the order of sets and mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: _canonical(getattr(value, item.name)) for item in dataclasses.fields(value)
                if item.name not in _LEFT_OUT}
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, set | frozenset):
        return sorted((_canonical(item) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, PurePath):
        return value.name  # where a file lives differs between machines; its name does not
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
