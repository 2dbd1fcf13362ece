"""What the job database keeps of an outcome beyond its first result set
(``sqlfleet.attemptends.detail_of``): nothing for a plain success, which takes a short way
that builds no models, and the full detail whenever there is anything to keep."""

from __future__ import annotations

from sqlfleet.attemptends import detail_of
from sqlfleet.engine import Engine
from sqlfleet.models.executions import TargetDetail
from sqlfleet.outcomes import ColumnSpec, ScriptOutcome


def _outcome(result_sets: int = 0, **fields: object) -> ScriptOutcome:
    outcome = ScriptOutcome(**fields)  # type: ignore[arg-type]
    for index in range(result_sets):
        kept = outcome.add_result_set([ColumnSpec("n", "int")])
        assert kept is not None
        kept.rows.append([index])
    return outcome


def test_a_plain_success_keeps_no_detail() -> None:
    assert detail_of(_outcome(), Engine.SQLITE) is None
    assert detail_of(_outcome(1), Engine.SQLITE) is None
    # message details without any value (a plain PRINT) are no detail either
    quiet = _outcome(1, message_details=[{"severity": None, "sqlstate": None, "number": None}])
    assert detail_of(quiet, Engine.SQLITE) is None


def test_anything_beyond_the_first_result_set_is_kept() -> None:
    more = detail_of(_outcome(2), Engine.SQLITE)
    assert isinstance(more, TargetDetail) and [s.rows for s in more.result_sets] == [[[1]]]
    dropped = detail_of(_outcome(1, result_sets_dropped=3), Engine.SQLITE)
    assert dropped is not None and dropped.result_sets_dropped == 3
    counted = detail_of(_outcome(affected_rows=[2, 0]), Engine.SQLITE)
    assert counted is not None and counted.affected_rows == [2, 0]
    noted = detail_of(
        _outcome(message_details=[{"severity": None}, {"severity": "warning", "number": 50000}]),
        Engine.SQLITE,
    )
    assert noted is not None
    kept = [(d.sequence, d.severity, d.number) for d in noted.message_details]
    assert kept == [(1, "warning", 50000)]
    failed = detail_of(_outcome(1, error="no such table: t", sqlstate="HY000"), Engine.SQLITE)
    assert failed is not None and failed.error is not None
    assert failed.error.message == "no such table: t" and failed.result_sets == []
