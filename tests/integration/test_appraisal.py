"""The annual appraisal (民主评议党员) through its services: opening a branch's sheet, filling
it, the suggestions, the refusals at submission, approval freezing it, return, the check
that recomputes frozen sheets, and the 优秀 list in the publication chain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.assessment.appraisal import (
    LineInput,
    appraisal_sheet,
    approve_appraisal,
    open_appraisal,
    refresh_points,
    return_appraisal,
    save_sheet,
    submit_appraisal,
)
from service.assessment.appraisal_lists import (
    appraisals_for,
    publish_excellent,
    verify_appraisals,
)
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.persistence.assessment import AppraisalLine, AppraisalStatus, Grade
from service.persistence.db import Database
from service.persistence.models import AuditEvent, PointsTotal, PublicationKind
from service.publication.chain import verify_chain
from service.publication.results import published_results, result_lines
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

DEC_2025 = datetime(2025, 12, 20, 2, 0, tzinfo=UTC)
DEC_2026 = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)


def _open(database: Database, town: SmallTown, rulebook: Rulebook, year: int = 2025) -> int:
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        return open_appraisal(
            session,
            secretary,
            rulebook,
            branch_id=town.jinwan,
            year=year,
            now=DEC_2025 if year == 2025 else DEC_2026,
        )


def _line_ids(database: Database, town: SmallTown, appraisal_id: int) -> dict[str, int]:
    names = {member_id: name for name, member_id in town.member_ids.items()}
    with database.transaction(write=False) as session:
        rows = session.execute(
            select(AppraisalLine.member_id, AppraisalLine.id).where(
                AppraisalLine.appraisal_id == appraisal_id
            )
        )
        return {names[member_id]: line_id for member_id, line_id in rows}


def _fill(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    appraisal_id: int,
    values: dict[str, LineInput],
    who: str = "secretary",
) -> None:
    lines = _line_ids(database, town, appraisal_id)
    with database.transaction() as session:
        save_sheet(
            session,
            town.principal(database, who),
            rulebook,
            appraisal_id,
            {lines[name]: value for name, value in values.items()},
        )


def good(
    self_review: str, mutual: str, grade: str, decided: str = "", reason: str = ""
) -> LineInput:
    return LineInput(
        inputs={"self_review": self_review, "mutual_review": mutual, "branch_grade": grade},
        grade=decided,
        departure_reason=reason,
    )


def test_the_secretary_opens_a_sheet_of_the_branchs_members_not_exempt(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    appraisal_id = _open(database, town, rulebook)
    admin = town.principal(database, "admin")
    with database.transaction(write=False) as session:
        sheet = appraisal_sheet(session, admin, rulebook, appraisal_id)
    # 金湾: member, member2 and the secretary; the exempt elder is not on the sheet.
    assert sorted(line.name for line in sheet.lines) == ["张伟", "李娜", "王书记"]
    assert sheet.ruleset_version == "2025.1" and sheet.status is AppraisalStatus.OPEN
    assert all(line.score is None and line.suggested is None for line in sheet.lines)
    assert sheet.cap == 1  # a third of three
    # One per branch and year.
    with pytest.raises(Conflict):
        _open(database, town, rulebook)


def test_opening_refuses_strangers_early_years_and_years_before_the_rules(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        for who, branch in [("secretary2", town.jinwan), ("instructor", town.jinwan)]:
            with pytest.raises(PermissionDenied):
                open_appraisal(
                    session,
                    town.principal(database, who),
                    rulebook,
                    branch_id=branch,
                    year=2025,
                    now=DEC_2025,
                )
        secretary = town.principal(database, "secretary")
        early = datetime(2025, 11, 30, 2, 0, tzinfo=UTC)
        with pytest.raises(InvalidInput) as refused:
            open_appraisal(
                session, secretary, rulebook, branch_id=town.jinwan, year=2025, now=early
            )
        assert "1 December 2025" in str(refused.value.errors["year"])
        with pytest.raises(InvalidInput) as refused:
            open_appraisal(
                session, secretary, rulebook, branch_id=town.jinwan, year=2024, now=DEC_2025
            )
        assert "before the first rules" in str(refused.value.errors["year"])


def test_points_weigh_with_the_inputs_and_the_suggestions_follow(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        for name, points in [("member", 40), ("member2", 10)]:
            member_id = town.member_ids[name]
            session.add(
                PointsTotal(
                    period="2026", member_id=member_id, points=Decimal(points), exempt=False
                )
            )
    appraisal_id = _open(database, town, rulebook, year=2026)
    _fill(
        database,
        town,
        rulebook,
        appraisal_id,
        {
            "member": good("95", "92", "excellent"),
            "member2": good("80", "75", "qualified"),
            "secretary": good("90", "90", "excellent"),
        },
    )
    with database.transaction(write=False) as session:
        sheet = appraisal_sheet(
            session, town.principal(database, "secretary"), rulebook, appraisal_id
        )
    by_name = {line.name: line for line in sheet.lines}
    # 2026.2: base 60 + points; 80 % × min(points / 96, 1) + 20 % × the inputs.
    zhang = by_name["张伟"]
    assert zhang.points == Decimal("100.0")
    # 80 + 0.2 × (0.2 × 95 + 0.4 × 92 + 0.4 × 100) = 80 + 19.16 = 99.2
    assert zhang.score == Decimal("99.2") and zhang.suggested is Grade.EXCELLENT
    li = by_name["李娜"]  # 70 points: 80 × 70/96 = 58.33 + 0.2 × (16 + 30 + 32) = 15.6
    assert li.score == Decimal("73.9") and li.suggested is Grade.QUALIFIED
    wang = by_name["王书记"]  # 60 points: 50 + 0.2 × (18 + 36 + 40) = 18.8 → 68.8
    assert wang.score == Decimal("68.8") and wang.suggested is Grade.BASIC


def test_bad_input_is_named_per_field_and_nothing_is_saved(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    appraisal_id = _open(database, town, rulebook)
    lines = _line_ids(database, town, appraisal_id)
    with pytest.raises(InvalidInput) as refused:
        _fill(
            database,
            town,
            rulebook,
            appraisal_id,
            {
                "member": good("101", "9.55", "splendid"),
                "member2": LineInput(
                    inputs={"self_review": "80"}, veto=True, veto_reason="  ", grade="x"
                ),
                "secretary": good("90", "90", "excellent"),
            },
        )
    errors = refused.value.errors
    assert set(errors) == {
        f"{lines['member']}.self_review",
        f"{lines['member']}.mutual_review",
        f"{lines['member']}.branch_grade",
        f"{lines['member2']}.veto_reason",
        f"{lines['member2']}.grade",
    }
    assert "0 to 100" in str(errors[f"{lines['member']}.self_review"])
    with database.transaction(write=False) as session:
        sheet = appraisal_sheet(session, town.principal(database, "admin"), rulebook, appraisal_id)
    assert all(line.inputs == {} for line in sheet.lines)  # the good line was not saved either


def test_submission_names_each_problem_then_approval_freezes_the_sheet(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    appraisal_id = _open(database, town, rulebook)
    lines = _line_ids(database, town, appraisal_id)
    _fill(
        database,
        town,
        rulebook,
        appraisal_id,
        {
            "member": good("95", "95", "excellent", decided="excellent"),
            "member2": good("92", "94", "excellent", decided="excellent"),  # over the cap
            "secretary": LineInput(inputs={"self_review": "90"}),
        },
    )
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        sheet = appraisal_sheet(session, secretary, rulebook, appraisal_id)
        suggested = {line.name: line.suggested for line in sheet.lines}
        # Both score 90 or more; only one of three may be 优秀: the better one.
        assert suggested == {"张伟": Grade.EXCELLENT, "李娜": Grade.QUALIFIED, "王书记": None}
        with pytest.raises(InvalidInput) as refused:
            submit_appraisal(session, secretary, rulebook, appraisal_id, now=DEC_2025)
    errors = {key: str(value) for key, value in refused.value.errors.items()}
    assert "departs from the suggestion" in errors[f"{lines['member2']}.departure_reason"]
    assert "Fill every appraisal input" in errors[f"{lines['secretary']}.inputs"]
    assert "at most 1" in errors["sheet"]

    # A veto forces 不合格, whatever the reason given.
    _fill(
        database,
        town,
        rulebook,
        appraisal_id,
        {
            "member": good("95", "95", "excellent", decided="excellent"),
            "member2": good("92", "94", "excellent", decided="basic", reason="缺席三次主题党日"),
            "secretary": LineInput(
                inputs={"self_review": "90"},
                veto=True,
                veto_reason="违反廉洁纪律",
                grade="qualified",
                departure_reason="平时表现好",
            ),
        },
    )
    with database.transaction() as session, pytest.raises(InvalidInput) as refused:
        submit_appraisal(session, secretary, rulebook, appraisal_id, now=DEC_2025)
    assert "veto" in str(refused.value.errors[f"{lines['secretary']}.grade"])

    _fill(
        database,
        town,
        rulebook,
        appraisal_id,
        {
            "secretary": LineInput(
                inputs={"self_review": "90"},
                veto=True,
                veto_reason="违反廉洁纪律",
                grade="unqualified",
            ),
        },
    )
    with database.transaction() as session:
        submit_appraisal(session, secretary, rulebook, appraisal_id, now=DEC_2025)
    # Submitted: the secretary can no longer change it; only an approver approves.
    with database.transaction() as session, pytest.raises(Conflict):
        save_sheet(session, secretary, rulebook, appraisal_id, {})
    with database.transaction() as session, pytest.raises(PermissionDenied):
        approve_appraisal(session, secretary, appraisal_id, now=DEC_2025)
    with database.transaction() as session:
        approve_appraisal(
            session, town.principal(database, "instructor"), appraisal_id, now=DEC_2025
        )
    with database.transaction(write=False) as session:
        sheet = appraisal_sheet(session, secretary, rulebook, appraisal_id)
        assert sheet.status is AppraisalStatus.APPROVED and len(sheet.digest) == 64
        assert sheet.departures == 1 and sheet.approved_by == "党建指导员"
        assert verify_appraisals(session, rulebook) == []
        # The audit log records the lines' changes, never the private reasons.
        logged = " ".join(
            str(event.before) + str(event.after)
            for event in session.scalars(
                select(AuditEvent).where(AuditEvent.object_type == "appraisal_line")
            )
        )
        assert logged and "违反廉洁纪律" not in logged and "缺席三次主题党日" not in logged
    # Frozen: nothing changes it any more.
    actions: list[Callable[[Session], object]] = [
        lambda s: save_sheet(s, secretary, rulebook, appraisal_id, {}),
        lambda s: refresh_points(s, secretary, rulebook, appraisal_id, now=DEC_2025),
        lambda s: submit_appraisal(s, secretary, rulebook, appraisal_id, now=DEC_2025),
        lambda s: return_appraisal(s, town.principal(database, "admin"), appraisal_id, "再议"),
    ]
    for action in actions:
        with database.transaction() as session, pytest.raises(Conflict):
            action(session)


def test_an_approver_returns_a_sheet_with_a_reason(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    appraisal_id = _open(database, town, rulebook)
    _fill(
        database,
        town,
        rulebook,
        appraisal_id,
        {
            "member": good("95", "95", "excellent", decided="excellent"),
            "member2": good("80", "80", "qualified", decided="qualified"),
            "secretary": good("70", "70", "basic", decided="basic"),
        },
    )
    with database.transaction() as session:
        submit_appraisal(
            session, town.principal(database, "secretary"), rulebook, appraisal_id, now=DEC_2025
        )
    admin = town.principal(database, "admin")
    with database.transaction() as session, pytest.raises(InvalidInput):
        return_appraisal(session, admin, appraisal_id, "  ")
    with database.transaction() as session:
        return_appraisal(session, admin, appraisal_id, "互评分数请附原始记录")
    with database.transaction(write=False) as session:
        sheet = appraisal_sheet(session, admin, rulebook, appraisal_id)
        assert sheet.status is AppraisalStatus.OPEN
        assert sheet.returned_reason == "互评分数请附原始记录"


def test_strangers_do_not_see_a_sheet(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    appraisal_id = _open(database, town, rulebook)
    with database.transaction(write=False) as session:
        for who in ("member2", "secretary2", "member3"):
            with pytest.raises(NotFound):
                appraisal_sheet(session, town.principal(database, who), rulebook, appraisal_id)
        listed = appraisals_for(session, town.principal(database, "secretary2"), 2025, page=1)
        assert [row.branch_code for row in listed.items] == ["B002"]
        assert listed.items[0].may_open and listed.items[0].appraisal_id is None
        office = appraisals_for(session, town.principal(database, "admin"), 2025, page=1)
        assert [row.status for row in office.items] == [AppraisalStatus.OPEN, None]


def _approved(database: Database, town: SmallTown, rulebook: Rulebook) -> int:
    appraisal_id = _open(database, town, rulebook)
    _fill(
        database,
        town,
        rulebook,
        appraisal_id,
        {
            "member": good("95", "95", "excellent", decided="excellent"),
            "member2": good("80", "80", "qualified", decided="qualified"),
            "secretary": good("70", "70", "basic", decided="basic"),
        },
    )
    with database.transaction() as session:
        submit_appraisal(
            session, town.principal(database, "secretary"), rulebook, appraisal_id, now=DEC_2025
        )
        approve_appraisal(session, town.principal(database, "admin"), appraisal_id, now=DEC_2025)
    return appraisal_id


def test_verify_names_a_tampered_line(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    appraisal_id = _approved(database, town, rulebook)
    with database.transaction() as session:
        session.execute(
            update(AppraisalLine)
            .where(
                AppraisalLine.appraisal_id == appraisal_id,
                AppraisalLine.member_id == town.member_ids["member2"],
            )
            .values(score=Decimal("95.0"))
        )
    with database.transaction(write=False) as session:
        problems = verify_appraisals(session, rulebook)
    assert any("M002" in problem and "stored score 95.0" in problem for problem in problems)
    assert any("digest" in problem for problem in problems)


def test_the_excellent_list_is_published_in_the_chain(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session, pytest.raises(Conflict):
        publish_excellent(session, admin, rulebook, 2025, now=DEC_2025)  # nothing approved
    _approved(database, town, rulebook)
    with database.transaction() as session, pytest.raises(PermissionDenied):
        publish_excellent(
            session, town.principal(database, "instructor"), rulebook, 2025, now=DEC_2025
        )
    with database.transaction() as session:
        publish_excellent(session, admin, rulebook, 2025, now=DEC_2025)
    with database.transaction(write=False) as session:
        listed = published_results(session, PublicationKind.EXCELLENT, "2025")
        assert listed is not None
        lines = result_lines(session, listed.id)
        assert [(line.name, line.value, line.label) for line in lines] == [
            ("张伟", "97.0", "excellent")
        ]
        assert verify_chain(session).ok
    with database.transaction() as session, pytest.raises(Conflict):
        publish_excellent(session, admin, rulebook, 2025, now=DEC_2025)
