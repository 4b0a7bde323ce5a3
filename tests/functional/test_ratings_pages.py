"""The branch rating pages (星级支部) through real HTTP: the office opens a round, a
secretary self-scores with an evidence photo, the instructor audits, a veto takes a
branch's stars, the office publishes; a stranger never sees another branch's sheet and
a veto's reason never reaches the published list. The town's day is fixed at
2026-12-10 (a year's round opens from December on)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from service.persistence.assessment import PublishedResultRow, RatingRound
from service.persistence.db import Database
from tests.conftest import Browser, SmallTown
from tests.integration.test_evidence import jpeg_bytes

HOST = "testserver.local"
TODAY = date(2026, 12, 10)
VETO_REASON = "三月发生重大安全生产事故"


@pytest.fixture(autouse=True)
def town_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("web.ratings.views.town_date", lambda _request: TODAY)


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


def open_round(office: Browser, period: str = "2026") -> Any:
    return office.submit("/ratings", "/ratings", {"period": period})


def round_id_of(database: Database) -> int:
    with database.transaction(write=False) as session:
        found = session.scalar(select(RatingRound.id))
        assert found is not None
        return int(found)


def self_assess(browser: Browser, round_id: int, branch: int, fields: dict[str, str]) -> Any:
    sheet = f"/ratings/{round_id}/branches/{branch}"
    token = browser.csrf_token(sheet)
    return browser.client.post(
        f"{sheet}/self",
        data={**fields, "_csrf_token": token},
        files=[("photo_organisation", ("台账.jpg", jpeg_bytes(), "image/jpeg"))],
        follow_redirects=False,
    )


FULL = {
    "score_organisation": "92",
    "note_organisation": "按期换届,组织生活台账齐全",
    "score_role": "88.5",
    "note_role": "组织党员志愿服务12次",
    "action": "submit",
}


def field_error(html: str, field: str) -> str:
    match = re.search(rf'id="{field}-error">(.*?)</p>', html, re.DOTALL)
    return match.group(1) if match else ""


def test_the_office_opens_a_round_and_a_bad_period_is_told_beside_the_field(
    make_browser: Any, database: Database, town: SmallTown
) -> None:
    office = signed_in(make_browser, "admin")
    bad = open_round(office, "2026-13")
    assert bad.status_code == 422
    assert "a quarter" in field_error(bad.text, "period")
    assert 'value="2026-13"' in bad.text  # what was typed is kept
    too_early = open_round(office, "2027")
    assert too_early.status_code == 422
    assert "2027-12-01" in field_error(too_early.text, "period")
    opened = open_round(office)
    assert opened.status_code == 303
    round_id = round_id_of(database)
    assert opened.headers["location"] == f"/ratings/{round_id}?done=opened"
    page = office.client.get(f"/ratings/{round_id}")
    assert page.status_code == 200
    assert "金湾工业园区联合党支部" in page.text and "宝元鞋厂党支部" in page.text
    assert "2 branches are not audited yet" in page.text
    again = open_round(office)
    assert again.status_code == 409
    # An instructor sees the rounds but cannot open one.
    instructor = signed_in(make_browser, "instructor")
    assert "Open a round" not in instructor.client.get("/ratings").text
    assert open_round(instructor).status_code == 403


def test_roles_on_the_sheets(make_browser: Any, database: Database, town: SmallTown) -> None:
    office = signed_in(make_browser, "admin")
    open_round(office)
    round_id = round_id_of(database)
    jinwan_sheet = f"/ratings/{round_id}/branches/{town.jinwan}"
    # A member sees no rating page at all; another branch's secretary gets 404.
    member = signed_in(make_browser, "member")
    assert member.client.get("/ratings").status_code == 403
    assert member.client.get(jinwan_sheet).status_code == 403
    other = signed_in(make_browser, "secretary2")
    assert other.client.get(jinwan_sheet).status_code == 404
    listing = other.client.get(f"/ratings/{round_id}")
    assert "宝元鞋厂党支部" in listing.text and "金湾工业园区联合党支部" not in listing.text
    # The secretary: a score out of range is told beside its field, the notes kept.
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(jinwan_sheet)
    assert "Self-assessment" in page.text and 'action="' + jinwan_sheet + '/audit"' not in page.text
    refused = self_assess(secretary, round_id, town.jinwan, {**FULL, "score_role": "120"})
    assert refused.status_code == 422
    assert "from 0 to 100" in field_error(refused.text, "score_role")
    assert "组织党员志愿服务12次" in refused.text
    assert "choose them again" in refused.text
    sent = self_assess(secretary, round_id, town.jinwan, FULL)
    assert sent.status_code == 303
    page = secretary.client.get(jinwan_sheet)
    assert "Waiting for the audit" in page.text
    assert 'name="score_role"' not in page.text  # submitted: no longer the branch's to change
    evidence = f"{jinwan_sheet}/evidence/organisation"
    assert evidence in page.text
    photo = secretary.client.get(evidence)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert other.client.get(evidence).status_code == 404
    # The instructor audits: a changed score without a reason is refused beside it.
    instructor = signed_in(make_browser, "instructor")
    token = instructor.csrf_token(jinwan_sheet)
    refused = instructor.client.post(
        f"{jinwan_sheet}/audit",
        data={"audit_organisation": "80", "audit_role": "88.5", "_csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "differs" in field_error(refused.text, "reason_organisation")
    done = instructor.submit(
        jinwan_sheet,
        f"{jinwan_sheet}/audit",
        {"audit_organisation": "80", "reason_organisation": "台账缺两次记录", "audit_role": "88.5"},
    )
    assert done.status_code == 303
    page = instructor.client.get(jinwan_sheet)
    # 25+15+20+10+5 computed (no points, no meetings: meetings 0, warnings 1 → 5)...
    assert "Audited" in page.text and "台账缺两次记录" in page.text
    # ...and the instructor of 金湾 does not see 宝元's sheet.
    assert instructor.client.get(f"/ratings/{round_id}/branches/{town.baoyuan}").status_code == 404


def test_a_veto_reason_never_reaches_the_published_list(
    make_browser: Any, database: Database, town: SmallTown
) -> None:
    office = signed_in(make_browser, "admin")
    open_round(office)
    round_id = round_id_of(database)
    for branch, who in ((town.jinwan, "secretary"), (town.baoyuan, "secretary2")):
        assert self_assess(signed_in(make_browser, who), round_id, branch, FULL).status_code == 303
    early = office.submit(f"/ratings/{round_id}", f"/ratings/{round_id}/publish", {})
    assert early.status_code == 409
    assert "not audited yet" in early.text
    for branch in (town.jinwan, town.baoyuan):
        sheet = f"/ratings/{round_id}/branches/{branch}"
        fields = {"audit_organisation": "92", "audit_role": "88.5"}
        if branch == town.baoyuan:
            fields |= {"veto_safety_accident": "1", "veto_reason_safety_accident": VETO_REASON}
        assert office.submit(sheet, f"{sheet}/audit", fields).status_code == 303
    vetoed_sheet = office.client.get(f"/ratings/{round_id}/branches/{town.baoyuan}").text
    assert VETO_REASON in vetoed_sheet and "Vetoed" in vetoed_sheet
    published = office.submit(f"/ratings/{round_id}", f"/ratings/{round_id}/publish", {})
    assert published.status_code == 303
    page = office.client.get(f"/ratings/{round_id}?done=published")
    assert "/results/branch_stars/2026" in page.text
    with database.transaction(write=False) as session:
        rows = session.scalars(select(PublishedResultRow)).all()
        assert {row.branch_id: row.label for row in rows}[town.baoyuan] == "0"
        assert all(VETO_REASON not in repr(vars(row)) for row in rows)
    # Published: the sheets are frozen.
    sheet = f"/ratings/{round_id}/branches/{town.jinwan}"
    assert 'name="audit_role"' not in office.client.get(sheet).text
