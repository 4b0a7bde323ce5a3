"""Every kind of difference `jifen ledger verify` can report has a label and a remedy:
the office's page and the command line name both for whatever verify finds."""

from __future__ import annotations

from decimal import Decimal

from service.ledger.verify import (
    DIFFERENCE_LABELS,
    REMEDY_LABELS,
    REMEDY_OF,
    Difference,
    DifferenceKind,
    MemberRef,
    Remedy,
    VerifyReport,
)


def test_every_kind_has_a_label_and_a_remedy() -> None:
    assert set(DIFFERENCE_LABELS) == set(DifferenceKind)
    assert set(REMEDY_OF) == set(DifferenceKind)
    assert set(REMEDY_LABELS) == set(Remedy)


def test_remedies_come_once_each_in_the_order_to_apply_them() -> None:
    def found(kind: DifferenceKind) -> Difference:
        return Difference(
            kind=kind,
            member=MemberRef(1, "M001", "张伟"),
            period="2026-11",
            rule_id="good_deed",
            branch_id=1,
            activity_key=None,
            expected=Decimal(1),
            found=Decimal(2),
        )

    report = VerifyReport(
        summary_rows=0,
        ledger_lines=0,
        ledger_groups=0,
        member_years=0,
        activities=0,
        differences=[
            found(DifferenceKind.STATUS_MISMATCH),
            found(DifferenceKind.SCORE_MISMATCH),
            found(DifferenceKind.SUMMARY_MISMATCH),
            found(DifferenceKind.SUMMARY_MISSING),
        ],
    )
    assert report.remedies == [Remedy.REBUILD_TOTALS, Remedy.RESCORE, Remedy.CORRECTION]
    assert VerifyReport(0, 0, 0, 0, 0).remedies == []
