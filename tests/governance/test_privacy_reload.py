"""A live reload keeps the ledger where it is: a changed ``state:`` is refused until a restart.

Switching state stores live would strand the running queries' reservations in the old ledger and
start the new one from nothing, so a budget spent there could be spent again. The reload is
refused with a descriptor problem naming the keys (never a path or URI), and the running mesh keeps
serving on its ledger; any other change still reloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flightmesh.executor import MeshRuntime
from tests.governance.privacy_mesh import build_privacy_mesh

SQL = "SELECT region, COUNT(*) AS n FROM sales.orders GROUP BY region"


def spent(mesh: MeshRuntime) -> float:
    (row,) = mesh.query("SELECT spent FROM mesh.privacy_budget", mesh.authenticate("rita", "r")).read_all().to_pylist()
    return float(row["spent"])


def rewrite(descriptor: Path, change: dict[str, Any]) -> None:
    document = yaml.safe_load(descriptor.read_text())
    document.update(change)
    descriptor.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.mark.parametrize("state", [
    {"path": "elsewhere/ledger.sqlite"},
    {"kind": "postgresql", "uri": "postgresql://ledger:s3cret@127.0.0.1:1/state"},
], ids=["another file", "postgresql"])
def test_a_changed_state_store_is_refused_and_the_running_ledger_keeps_counting(tmp_path: Path,
                                                                                state: dict[str, Any]) -> None:
    descriptor = build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)
    with MeshRuntime.open(descriptor) as mesh:
        rita = mesh.authenticate("rita", "r")
        mesh.query(SQL, rita).read_all()
        rewrite(descriptor, {"state": state})
        outcome = mesh.reload()
        assert not outcome.applied
        (problem,) = outcome.problems
        assert problem.startswith("mesh.yaml:") and "state" in problem
        assert "a change of state: needs a restart; the running mesh is unchanged" in problem
        assert "s3cret" not in problem and "ledger.sqlite" not in problem and str(tmp_path) not in problem
        mesh.query(SQL, rita).read_all()            # still serving, on the ledger it started with
        assert spent(mesh) == pytest.approx(0.10)
    assert not (tmp_path / "elsewhere").exists()
    rewrite(descriptor, {"state": {"path": "state/flightmesh.sqlite"}})   # the default, written out
    with MeshRuntime.open(descriptor) as restarted:
        assert spent(restarted) == pytest.approx(0.10)


def test_other_changes_still_reload_with_the_same_store(tmp_path: Path) -> None:
    descriptor = build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)
    with MeshRuntime.open(descriptor) as mesh:
        mesh.query(SQL, mesh.authenticate("rita", "r")).read_all()
        document = yaml.safe_load(descriptor.read_text())
        document["users"]["rosa"] = {"password": "q", "roles": ["researcher"]}
        document["state"] = {"path": "state/flightmesh.sqlite"}   # the same store, now written out
        descriptor.write_text(yaml.safe_dump(document, sort_keys=False))
        outcome = mesh.reload()
        assert outcome.applied, outcome.problems
        assert spent(mesh) == pytest.approx(0.05)
