"""A large roster import writes in batches: other writers (a sign-in) get in between two
batches instead of waiting for the whole file, a change by someone else half way stops
the import with a report of what was saved, and the same file again finishes it. The
board totals stay equal to the ledger batch by batch (``ledger verify``).
"""

from __future__ import annotations

import html
import re
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from service.kernel.config import Settings
from service.ledger.verify import verify_ledger
from service.people.fields import id_number_check_char
from service.people.roster_apply import apply_roster
from service.people.roster_file import read_table
from service.persistence.db import Database
from service.persistence.models import Member, MemberStatus
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
DIGEST_FIELD = re.compile(r'name="digest" value="([0-9a-f]{64})"')
HEADER = "党员编号,姓名,身份证号,手机号,党支部编号,所在单位,党员类别,入党日期"
TOWN_MEMBERS = 6  # the small town's


def id_number(seq: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=seq * 7)
    first17 = f"320583{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + id_number_check_char(first17)


def roster(count: int) -> bytes:
    """``count`` new members of 金湾 (B001), codes N0000 on, from row 2."""
    lines = [HEADER] + [
        f"N{seq:04d},新党员{seq},{id_number(seq)},,B001,飞鹰机械有限公司,"
        f"{'免评' if seq % 10 == 0 else '正式党员'},2015-07-01"
        for seq in range(count)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def members(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Member)) or 0


def assert_ledger_clean(database: Database, rulebook: Rulebook) -> None:
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert report.ok, [difference.describe() for difference in report.differences]


# 800 rows in batches of 40: 20 write transactions, a few seconds in all.
ROWS = 800
BATCH = 40


@pytest.mark.commits
def test_a_sign_in_during_a_large_import_goes_through_at_once(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    database_url: str,
    tmp_path: Path,
) -> None:
    from web.app import create_app

    settings = Settings(
        env="test",
        database_url=database_url,
        upload_dir=tmp_path / "uploads",
        import_batch_rows=BATCH,
    )
    app = create_app(settings, database=database, rulebook=rulebook)
    with TestClient(app=app) as office_client, TestClient(app=app) as member_client:
        office = Browser(office_client)
        office_client.cookies.set("jifen_lang", "en", domain=HOST)
        office.login("admin")
        checked = office_client.post(
            "/admin/import",
            files={"roster": ("roster.csv", roster(ROWS), "text/csv")},
            data={"_csrf_token": office.csrf_token("/admin/import")},
        )
        assert checked.status_code == 200, html.unescape(checked.text)[-2000:]
        match = DIGEST_FIELD.search(checked.text)
        assert match
        token = office.csrf_token("/admin/import")
        applied: dict[str, Any] = {}

        def apply() -> None:
            applied["response"] = office_client.post(
                "/admin/import/apply",
                data={"digest": match.group(1), "filename": "roster.csv", "_csrf_token": token},
            )
            applied["at"] = time.perf_counter()

        importer = threading.Thread(target=apply, name="roster-apply")
        importer.start()
        # The first batch is in: the import is under way.
        deadline = time.monotonic() + 60
        while members(database) == TOWN_MEMBERS and importer.is_alive():
            assert time.monotonic() < deadline, "no batch was saved within a minute"
            time.sleep(0.01)
        assert importer.is_alive(), "the import saved everything at once"
        started = time.perf_counter()
        signed_in = Browser(member_client).login("member")
        waited = time.perf_counter() - started
        during = members(database)
        importer.join(120)
        assert not importer.is_alive()

    assert signed_in.status_code == 303
    # The sign-in waited for one batch at most, not for the rest of the file ...
    assert TOWN_MEMBERS < during < TOWN_MEMBERS + ROWS, during
    assert applied["at"] > started + waited
    assert waited < 5, f"the sign-in waited {waited:.1f} s"
    # ... and the import finished whole.
    response = applied["response"]
    assert response.status_code == 200, html.unescape(response.text)[-2000:]
    assert f"{ROWS} created, 0 updated, 0 unchanged." in html.unescape(response.text)
    assert members(database) == TOWN_MEMBERS + ROWS
    assert_ledger_clean(database, rulebook)


def test_a_change_half_way_stops_the_import_and_the_same_file_finishes_it(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    table = read_table(roster(300))
    pauses: list[float] = []

    def someone_else_meanwhile(seconds: float) -> None:
        # Between the first two batches another office user records a member with the
        # ID number of the file's row 252 (N0250, in the third batch).
        pauses.append(seconds)
        if len(pauses) == 1:
            with database.transaction() as session:
                session.add(
                    Member(
                        code="X999",
                        name="另一位",
                        id_number=id_number(250),
                        branch_id=town.baoyuan,
                        status=MemberStatus.FULL,
                        active=True,
                    )
                )

    report = apply_roster(
        database, table, actor_id=None, batch_rows=100, pause=someone_else_meanwhile
    )
    assert len(pauses) == 2  # after batches 1 and 2; batch 3 stopped
    assert not report.applied and report.saved_through == 201
    assert [str(problem) for problem in report.problems] == [
        "row 252, column 身份证号: This ID number belongs to member X999 already."
    ]
    assert str(report.summary()) == (
        "Saved up to row 201: 200 created, 0 updated, 0 unchanged. Nothing after it was "
        "saved: correct the problems and import the same file again; the rows already "
        "saved stay as they are."
    )
    assert members(database) == TOWN_MEMBERS + 1 + 200
    assert_ledger_clean(database, rulebook)

    with database.transaction() as session:
        other = session.scalar(select(Member).where(Member.code == "X999"))
        assert other is not None
        other.id_number = id_number(999)
    again = apply_roster(database, table, actor_id=None, batch_rows=100, pause=lambda _s: None)
    assert again.applied and again.saved_through == 301
    assert (again.created, again.updated, again.unchanged) == (100, 0, 200)
    assert members(database) == TOWN_MEMBERS + 1 + 300
    assert_ledger_clean(database, rulebook)


def test_a_file_with_a_problem_writes_no_batch(database: Database, town: SmallTown) -> None:
    content = roster(250) + "N9999,坏行,123,,B001,,正式党员,\r\n".encode()
    report = apply_roster(database, read_table(content), actor_id=None, batch_rows=100)
    assert not report.applied and report.saved_through is None
    assert report.problem_count == 1
    assert members(database) == TOWN_MEMBERS
