"""Meetings through the API with an API token: the list with its filters, scheduling
(400 for a body that breaks the schema, 422 for what the form refuses, 403 for
non-organisers), a meeting's attendance for those who may see it (404 for strangers),
and the organisers' tick."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.functional.test_api_endpoints import assert_error
from tests.functional.test_api_tokens import bearer, issue
from tests.functional.test_meetings_pages import Meetings, today

USERS = ("member", "member2", "secretary", "member3", "secretary2", "instructor", "admin")


@pytest.fixture
def tokens(town: SmallTown, database: Database) -> dict[str, dict[str, str]]:
    return {name: bearer(issue(database, town, name)) for name in USERS}


@pytest.fixture
def meetings(database: Database, town: SmallTown, rulebook: Rulebook) -> Meetings:
    return Meetings(database, town, rulebook)


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "kind": "theme_day",
        "title": "12月主题党日",
        "day": (today() + timedelta(days=4)).isoformat(),
        "start": "09:00",
        "end": "11:00",
        "place": "党群服务中心",
        **overrides,
    }


def test_the_secretary_schedules_and_the_members_see_it(
    client: TestClient[Litestar], tokens: dict[str, dict[str, str]], town: SmallTown
) -> None:
    created = client.post("/api/meetings", json=body(), headers=tokens["secretary"])
    assert created.status_code == 201, created.text
    meeting = created.json()
    assert meeting["branch_id"] == town.jinwan
    assert meeting["status"] == "scheduled"
    assert meeting["kind"] == "theme_day" and meeting["start"] == "09:00"
    assert meeting["invitee_count"] >= 3

    listed = client.get("/api/meetings", headers=tokens["member"]).json()
    assert [item["id"] for item in listed["items"]] == [meeting["id"]]
    assert listed["total"] == 1
    assert client.get("/api/meetings", headers=tokens["member3"]).json()["items"] == []
    # The office filters by branch and by days.
    admin = tokens["admin"]
    assert (
        client.get(f"/api/meetings?branch_id={town.baoyuan}", headers=admin).json()["items"] == []
    )
    later = (today() + timedelta(days=5)).isoformat()
    assert client.get(f"/api/meetings?from={later}", headers=admin).json()["items"] == []
    day = meeting["day"]
    found = client.get(f"/api/meetings?from={day}&to={day}", headers=admin).json()
    assert [item["id"] for item in found["items"]] == [meeting["id"]]


def test_scheduling_refusals(
    client: TestClient[Litestar], tokens: dict[str, dict[str, str]], town: SmallTown
) -> None:
    assert_error(client.post("/api/meetings", json=body(), headers=tokens["member"]), 403)
    assert_error(
        client.post(
            "/api/meetings", json=body(branch_id=town.jinwan), headers=tokens["secretary2"]
        ),
        403,
    )
    assert_error(
        client.post("/api/meetings", json=body(colour="red"), headers=tokens["secretary"]), 400
    )
    assert_error(
        client.post("/api/meetings", json=body(start="9 am"), headers=tokens["secretary"]), 400
    )
    assert_error(
        client.post(
            "/api/meetings", json=body(start="11:00", end="10:00"), headers=tokens["secretary"]
        ),
        422,
        "end",
    )
    assert_error(
        client.post("/api/meetings", json=body(kind="picnic"), headers=tokens["secretary"]),
        422,
        "kind",
    )
    # The office names the branch.
    assert_error(
        client.post("/api/meetings", json=body(), headers=tokens["admin"]), 422, "branch_id"
    )
    done = client.post("/api/meetings", json=body(branch_id=town.baoyuan), headers=tokens["admin"])
    assert done.status_code == 201, done.text
    # Without a token, a change is refused even when signed in.
    assert_error(client.post("/api/meetings", json=body()), 401)


def test_attendance_for_those_who_may_see_it(
    client: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    meetings: Meetings,
    town: SmallTown,
) -> None:
    meeting_id = meetings.schedule()
    full = client.get(f"/api/meetings/{meeting_id}/attendance", headers=tokens["secretary"])
    assert full.status_code == 200, full.text
    names = {row["member_name"] for row in full.json()["rows"]}
    assert {"张伟", "李娜"} <= names
    own = client.get(f"/api/meetings/{meeting_id}/attendance", headers=tokens["member"]).json()
    assert [row["member_id"] for row in own["rows"]] == [town.member_ids["member"]]
    for stranger in ("member3", "secretary2"):
        assert_error(
            client.get(f"/api/meetings/{meeting_id}/attendance", headers=tokens[stranger]), 404
        )
    assert_error(client.get("/api/meetings/999999/attendance", headers=tokens["admin"]), 404)


def test_the_organiser_ticks_a_member(
    client: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    meetings: Meetings,
    town: SmallTown,
) -> None:
    meeting_id = meetings.schedule(day=today())
    meetings.open_now(meeting_id)
    member2 = town.member_ids["member2"]
    path = f"/api/meetings/{meeting_id}/attendance"
    assert_error(
        client.post(path, json={"member_id": member2, "present": True}, headers=tokens["member"]),
        403,
    )
    assert_error(
        client.post(
            path, json={"member_id": member2, "present": True}, headers=tokens["secretary2"]
        ),
        404,
    )
    assert_error(client.post(path, json={"member_id": member2}, headers=tokens["secretary"]), 400)
    ticked = client.post(
        path, json={"member_id": member2, "present": True}, headers=tokens["secretary"]
    )
    assert ticked.status_code == 200, ticked.text
    row = next(row for row in ticked.json()["rows"] if row["member_id"] == member2)
    assert row["method"] == "secretary" and row["checked_in_at"]
    # Nobody ticks themselves; a member not expected is refused; taking it back.
    own = {"member_id": town.member_ids["secretary"], "present": True}
    assert_error(client.post(path, json=own, headers=tokens["secretary"]), 409)
    stranger = {"member_id": town.member_ids["member3"], "present": True}
    assert_error(client.post(path, json=stranger, headers=tokens["secretary"]), 409)
    untick = {"member_id": member2, "present": False}
    back = client.post(path, json=untick, headers=tokens["secretary"]).json()
    row = next(row for row in back["rows"] if row["member_id"] == member2)
    assert row["checked_in_at"] is None
    # Not through the session cookie.
    assert_error(client.post(path, json={"member_id": member2, "present": True}), 401)


def test_the_schema_documents_the_meetings(client: TestClient[Litestar]) -> None:
    schema = client.get("/schema/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/meetings", "/api/meetings/{meeting_id}/attendance"} <= set(paths)
    create = paths["/api/meetings"]["post"]
    assert {"201", "401", "403", "422"} <= set(create["responses"])
    read = paths["/api/meetings/{meeting_id}/attendance"]["get"]
    assert {"200", "401", "404"} <= set(read["responses"])
