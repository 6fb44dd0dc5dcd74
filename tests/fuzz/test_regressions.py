"""Every shrunk fuzz failure, kept: each must now answer as the oracle does (or be refused as it is).

The cases still open when they were last run (``Regression.open``) are strict xfails: the day a
fix lands they pass, the xfail turns into a failure, and the case must be closed here and its
class removed from ``known_open.KNOWN_OPEN``.
"""

from __future__ import annotations

import pytest

from tests.fuzz.differential import Differ
from tests.fuzz.generator import KNOWN_OPEN
from tests.fuzz.regressions import REGRESSIONS, Regression


def _param(case: Regression) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=f"open: {case.klass}")] if case.open else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in REGRESSIONS])
def test_regression_answers_as_the_oracle(case: Regression, request: pytest.FixtureRequest) -> None:
    differ: Differ = request.getfixturevalue("eager_differ" if case.eager else "differ")
    outcome = differ.run(case.sql)
    assert outcome.good, (f"{case.klass}: {outcome.signature}\n{outcome.detail}\n"
                          + "\n".join(f"fragment [{e}] {sql}" for e, sql in outcome.fragments))


def test_every_known_open_class_has_an_open_regression() -> None:
    """KNOWN_OPEN is never a silent exclusion: each names a case here that is still an xfail."""
    by_id = {case.id: case for case in REGRESSIONS}
    for name, known in KNOWN_OPEN.items():
        assert known.regression in by_id, (name, known.regression)
        assert by_id[known.regression].open, f"{name}: its case {known.regression} is closed; drop it from KNOWN_OPEN"


def test_regression_ids_are_unique() -> None:
    ids = [case.id for case in REGRESSIONS]
    assert len(ids) == len(set(ids))
