"""Banding a period and following up its warning cases: the lists the office draws, the
cases they open, talks, closing, the member's response, overdue cases, refusals, the
check that recomputes every run, and the red list in the publication chain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from service.assessment.bands import (
    band_runs,
    bandable_periods,
    publish_red_list,
    red_list_state,
    run_banding,
    run_view,
    verify_bands,
)
from service.assessment.warnings import (
    CaseFilter,
    case_view,
    close_case,
    list_cases,
    overdue_cases,
    own_open_case,
    record_talk,
    respond,
)
from service.boards.board import SpanKind, board_period
from service.cli import main
from service.cli.common import CliContext
from service.kernel.config import Settings
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.periods import period_of
from service.persistence.assessment import Band, BandLine, BandRun, CaseStatus, WarningCase
from service.persistence.db import Database
from service.persistence.models import AuditEvent, Publication, PublicationKind
from service.publication.chain import verify_chain
from service.publication.publish import publish_month
from service.publication.results import result_lines
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.integration.bands_support import (
    banding_rulebook,
    give_points,
    later,
    this_quarter,
    today,
)


@pytest.fixture
def book(rulebook: Rulebook) -> Rulebook:
    return banding_rulebook(rulebook)


@pytest.fixture
def banded(database: Database, town: SmallTown, book: Rulebook) -> str:
    give_points(database, town, book)
    quarter = this_quarter()
    with database.transaction() as session:
        run_banding(session, town.principal(database, "admin"), book, quarter.key, quarter.after)
    return quarter.key


def _case_of(database: Database, member_id: int) -> int:
    with database.transaction(write=False) as session:
        case_id = session.scalar(select(WarningCase.id).where(WarningCase.member_id == member_id))
    assert case_id is not None
    return case_id


def test_banding_draws_the_lists_and_opens_cases(
    database: Database, town: SmallTown, book: Rulebook, banded: str
) -> None:
    ids = town.member_ids
    with database.transaction(write=False) as session:
        run = session.scalar(select(BandRun).where(BandRun.period == banded))
        assert run is not None and run.members_banded == 5  # the exempt elder is left out
        lines = {line.member_id: line for line in session.scalars(select(BandLine))}
        assert lines[ids["member"]].band is Band.RED and str(lines[ids["member"]].score) == "6.0"
        assert lines[ids["member2"]].reason == "below"
        assert {m for m, line in lines.items() if line.band is Band.YELLOW} == {
            ids["member2"], ids["secretary"], ids["member3"], ids["secretary2"],
        }  # fmt: skip
        cases = list(session.scalars(select(WarningCase)))
        assert len(cases) == 4
        opened = this_quarter().after
        case = next(c for c in cases if c.member_id == ids["member2"])
        assert case.status is CaseStatus.OPEN
        assert case.deadline == (opened + timedelta(hours=8)).date() + timedelta(days=30)
        # No month of the quarter is published: the red list waits for them.
        assert run.publication_id is None
        assert red_list_state(session, book, run) == "waiting"
        summary = band_runs(session, town.principal(database, "admin"))
        assert [(s.red, s.yellow, s.cases) for s in summary] == [(1, 4, 4)]
        assert verify_bands(session, book) == []


def test_banding_is_refused_twice_before_the_end_and_to_non_office(
    database: Database, town: SmallTown, book: Rulebook, banded: str
) -> None:
    quarter = this_quarter()
    admin = town.principal(database, "admin")
    with database.transaction() as session, pytest.raises(Conflict, match="already banded"):
        run_banding(session, admin, book, banded, quarter.after)
    with database.transaction() as session, pytest.raises(Conflict, match="not ended"):
        run_banding(session, admin, book, banded, quarter.after - timedelta(days=1))
    with database.transaction() as session, pytest.raises(PermissionDenied):
        run_banding(session, town.principal(database, "secretary"), book, "2020-Q1", quarter.after)
    with database.transaction() as session, pytest.raises(InvalidInput):
        run_banding(session, admin, book, quarter.months[0], quarter.after)  # a month
    with database.transaction(write=False) as session:
        assert banded not in bandable_periods(session, book, quarter.after)


def test_reviewers_see_their_branches_lines_only(
    database: Database, town: SmallTown, book: Rulebook, banded: str
) -> None:
    with database.transaction(write=False) as session:
        view = run_view(session, town.principal(database, "secretary2"), book, banded)
        assert {line.code for line in view.yellow} == {"M004", "M005"} and view.red == []
        view = run_view(session, town.principal(database, "instructor"), book, banded)
        assert {line.code for line in view.yellow} == {"M002", "M003"}
        with pytest.raises(NotFound):
            run_view(session, town.principal(database, "member"), book, banded)


def test_a_talk_then_closing_and_the_member_reads_the_actions(
    database: Database, town: SmallTown, banded: str
) -> None:
    case_id = _case_of(database, town.member_ids["member2"])
    secretary = town.principal(database, "secretary")
    member2 = town.principal(database, "member2")
    day = today()
    with database.transaction() as session:
        record_talk(
            session, secretary, case_id, talked_on=day.isoformat(), talked_by="王书记",
            notes="家中有困难，工作繁忙", actions="每月参加一次志愿服务",
            deadline=(day + timedelta(days=60)).isoformat(), today=day,
        )  # fmt: skip
    with database.transaction() as session:
        respond(
            session,
            member2,
            case_id,
            text="我会按时参加志愿服务。",
            now=later(this_quarter().after, 1),
        )
    with database.transaction(write=False) as session:
        seen = case_view(session, member2, case_id, today=day)
        assert seen.is_member and not seen.may_act
        assert seen.talks[0].actions == "每月参加一次志愿服务"
        assert seen.talks[0].notes is None  # the notes are for the file
        assert seen.row.deadline == day + timedelta(days=60)
        assert seen.response == "我会按时参加志愿服务。"
        assert case_view(session, secretary, case_id, today=day).talks[0].notes
    with database.transaction() as session:
        close_case(
            session, secretary, case_id, outcome="improved", note="已参加两次志愿服务",
            now=later(this_quarter().after, 2),
        )  # fmt: skip
    with database.transaction() as session, pytest.raises(Conflict):
        respond(session, member2, case_id, text="再补充", now=later(this_quarter().after, 3))
    with database.transaction(write=False) as session:
        assert case_view(session, member2, case_id, today=day).row.status is CaseStatus.IMPROVED
        # The audit log records each step, never the private texts.
        details = " ".join(
            f"{e.before or ''} {e.after or ''}"
            for e in session.scalars(
                select(AuditEvent).where(
                    AuditEvent.object_type.in_(("warning_case", "warning_talk"))
                )
            )
        )
        assert "warning_talk" in {e.object_type for e in session.scalars(select(AuditEvent))}
        for private in ("家中有困难", "每月参加", "我会按时", "已参加两次"):
            assert private not in details


def test_talk_and_close_refusals(database: Database, town: SmallTown, banded: str) -> None:
    case_id = _case_of(database, town.member_ids["member2"])
    own_case = _case_of(database, town.member_ids["secretary"])
    secretary = town.principal(database, "secretary")
    day = today()
    talk = {"talked_by": "王书记", "notes": "", "actions": "按时参加", "deadline": ""}
    with database.transaction() as session, pytest.raises(InvalidInput) as refused:
        record_talk(
            session, secretary, case_id, talked_on=(day + timedelta(days=1)).isoformat(),
            **{**talk, "actions": "", "deadline": (day - timedelta(days=9)).isoformat()},
            today=day,
        )  # fmt: skip
    assert set(refused.value.errors) == {"talked_on", "actions", "deadline"}
    with database.transaction() as session, pytest.raises(InvalidInput) as refused:
        record_talk(
            session, secretary, case_id, talked_on=day.isoformat(),
            **{**talk, "deadline": (day - timedelta(days=1)).isoformat()}, today=day,
        )  # fmt: skip
    assert set(refused.value.errors) == {"deadline"}
    with database.transaction() as session, pytest.raises(Conflict, match="talk"):
        close_case(
            session, secretary, case_id, outcome="improved", note="好", now=this_quarter().after
        )
    with database.transaction() as session, pytest.raises(InvalidInput):
        close_case(session, secretary, case_id, outcome="open", note="", now=this_quarter().after)
    # Strangers: the other branch's secretary and another member learn nothing.
    for stranger in ("secretary2", "member"):
        with database.transaction() as session, pytest.raises(NotFound):
            record_talk(
                session, town.principal(database, stranger), case_id,
                talked_on=day.isoformat(), **talk, today=day,
            )  # fmt: skip
        with database.transaction(write=False) as session, pytest.raises(NotFound):
            case_view(session, town.principal(database, stranger), case_id, today=day)
    # The instructor reads but does not record; nobody records on their own case.
    with database.transaction() as session, pytest.raises(PermissionDenied):
        record_talk(
            session, town.principal(database, "instructor"), case_id,
            talked_on=day.isoformat(), **talk, today=day,
        )  # fmt: skip
    with database.transaction() as session, pytest.raises(PermissionDenied):
        record_talk(session, secretary, own_case, talked_on=day.isoformat(), **talk, today=day)
    # Only the member responds, within 2000 characters.
    with database.transaction() as session, pytest.raises(PermissionDenied):
        respond(session, secretary, case_id, text="代答", now=this_quarter().after)
    with database.transaction() as session, pytest.raises(InvalidInput):
        respond(
            session, town.principal(database, "member2"), case_id, text="字" * 2001,
            now=this_quarter().after,
        )  # fmt: skip


def test_overdue_cases_and_who_lists_what(database: Database, town: SmallTown, banded: str) -> None:
    with database.transaction(write=False) as session:
        deadline = session.scalar(select(WarningCase.deadline).limit(1))
    assert deadline is not None
    before, after = deadline, deadline + timedelta(days=1)
    with database.transaction(write=False) as session:
        secretary = town.principal(database, "secretary")
        assert overdue_cases(session, secretary, today=before) == (0, [])
        count, rows = overdue_cases(session, secretary, today=after)
        assert count == 2 and {row.member_code for row in rows} == {"M002", "M003"}
        assert all(row.overdue for row in rows)
        assert overdue_cases(session, town.principal(database, "member"), today=after) == (0, [])
        office = list_cases(
            session, town.principal(database, "admin"), today=after, which=CaseFilter.OVERDUE
        )
        assert office.total == 4
        own = list_cases(session, town.principal(database, "member2"), today=after)
        assert [row.member_code for row in own.items] == ["M002"]
        assert list_cases(session, town.principal(database, "member"), today=after).total == 0
        paged = list_cases(session, town.principal(database, "admin"), today=after, size=3, page=2)
        assert (paged.pages, len(paged.items)) == (2, 1)
        assert own_open_case(session, town.principal(database, "member2")) is not None
        assert own_open_case(session, town.principal(database, "member")) is None


def test_verify_names_a_tampered_line(
    database: Database, town: SmallTown, book: Rulebook, banded: str
) -> None:
    with database.transaction() as session:
        session.execute(
            update(BandLine)
            .where(BandLine.member_id == town.member_ids["member2"])
            .values(score=BandLine.score + 1)
        )
    with database.transaction(write=False) as session:
        problems = verify_bands(session, book)
    assert len(problems) == 1 and f"member {town.member_ids['member2']}" in problems[0]


def test_the_red_list_is_published_once_the_months_are(
    database: Database, town: SmallTown, book: Rulebook, banded: str
) -> None:
    quarter = this_quarter()
    admin = town.principal(database, "admin")
    with database.transaction() as session, pytest.raises(Conflict, match="first"):
        publish_red_list(session, admin, book, banded, quarter.after)
    with database.transaction() as session:
        publish_month(session, admin, book, period_now(), now=quarter.after)
    with database.transaction() as session:
        publication = publish_red_list(session, admin, book, banded, quarter.after)
        assert publication.kind is PublicationKind.RED_LIST
    with database.transaction(write=False) as session:
        stored = session.scalar(
            select(Publication).where(Publication.kind == PublicationKind.RED_LIST)
        )
        assert stored is not None
        lines = result_lines(session, stored.id)
        assert [(line.name, line.value, line.label) for line in lines] == [("张伟", "6.0", "red")]
        assert verify_chain(session).ok
    with database.transaction() as session, pytest.raises(Conflict, match="already"):
        publish_red_list(session, admin, book, banded, quarter.after)


def period_now() -> str:
    day = today()
    return f"{day.year:04d}-{day.month:02d}"


def test_the_red_list_is_published_with_the_banding_when_nothing_waits(
    database: Database, town: SmallTown, book: Rulebook
) -> None:
    give_points(database, town, book)
    quarter = this_quarter()
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        publish_month(session, admin, book, period_now(), now=quarter.after)
    with database.transaction() as session:
        run = run_banding(session, admin, book, quarter.key, quarter.after)
        assert run.publication_id is not None
    with database.transaction(write=False) as session:
        assert verify_chain(session).ok


def test_the_command_bands_an_ended_quarter_and_verifies(
    database: Database, town: SmallTown
) -> None:
    settings = Settings(env="test")

    def run(args: list[str]) -> Result:
        return CliRunner().invoke(main, args, obj=CliContext(settings, database))

    quarter = board_period(period_of(today()), SpanKind.QUARTER).shift(-1).key
    done = run(["bands", "run", quarter])
    assert done.exit_code == 0, done.output
    # The small town has no points then: under the shipped rules (yellow below 0 or in the
    # bottom fifth, whole tie groups only) nobody is on a list.
    assert "5 members, 0 on the red list, 0 on the yellow list, 0 warning cases" in done.output
    again = run(["bands", "run", quarter])
    assert again.exit_code == 1 and "already banded" in again.output
    assert run(["bands", "run", "2999-Q1"]).exit_code == 1
    checked = run(["bands", "verify"])
    assert checked.exit_code == 0 and "OK" in checked.output
