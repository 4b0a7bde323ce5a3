"""Each /api operation with an API token: the happy path, its filters and pages, and the
refusals an integration meets (400 for a request that breaks the schema, 422 for one the
web form's checks refuse, 403, 404, 409), always as JSON in the documented shape. And
the OpenAPI document: the API alone, with its security schemes and examples."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, shift_period
from service.persistence.db import Database
from service.persistence.models import Entry, EntryStatus, LedgerLine
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.functional.test_api_tokens import ENTRY, bearer, issue
from tests.functional.test_permission_matrix import today
from tests.integration.test_evidence import rulebook_with_photo_required
from web.i18n import translations

THIS_MONTH = period_of(today())
STUDY_EN = "Took part in a study session"
TOMORROW = "tomorrow"  # resolved when the test runs


@pytest.fixture
def api(client: TestClient[Litestar]) -> TestClient[Litestar]:
    return client


@pytest.fixture
def tokens(town: SmallTown, database: Database) -> dict[str, dict[str, str]]:
    """Authorization headers (English answers) for every account of the small town."""
    return {
        name: bearer(issue(database, town, name))
        for name in (
            "member",
            "member2",
            "secretary",
            "member3",
            "secretary2",
            "instructor",
            "admin",
        )
    }


def declare(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    *,
    rule_id: str = "volunteer",
    day: Any = None,
    quantity: str = "1",
) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput(rule_id, day or today(), Decimal(quantity), f"{rule_id} {quantity}"),
            today=today(),
            now=utcnow(),
        )


def approved(
    database: Database, town: SmallTown, rulebook: Rulebook, entry_id: int, by: str
) -> int:
    with database.transaction() as session:
        approve_entry(session, town.principal(database, by), rulebook, entry_id, now=utcnow())
    return entry_id


def assert_error(response: Any, status: int, *keys: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status_code"] == status and body["detail"]
    if keys:
        assert {problem["key"] for problem in body["extra"]} >= set(keys), body
    return body


# --- GET /api/entries --------------------------------------------------------------------


def test_my_entries_newest_first_with_filters_and_pages(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
) -> None:
    first = declare(database, town, rulebook, "member", quantity="2")
    second = approved(
        database, town, rulebook, declare(database, town, rulebook, "member"), "secretary"
    )
    third = declare(database, town, rulebook, "member", rule_id="study")
    declare(database, town, rulebook, "member2")  # someone else's: never listed

    page = api.get("/api/entries", headers=tokens["member"]).json()
    assert [item["id"] for item in page["items"]] == [third, second, first]
    assert (page["total"], page["limit"], page["offset"], page["next_offset"]) == (3, 50, 0, None)
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id[second]["status"] == "approved" and by_id[second]["points"] == "3.0"
    assert by_id[second]["decided_by"] == "王书记"
    assert by_id[first]["quantity"] == "2.0" and by_id[first]["points"] is None
    assert by_id[third]["rule_name"] == STUDY_EN
    assert by_id[first]["photos"] == 0 and by_id[first]["period"] == THIS_MONTH

    pending = api.get("/api/entries?status=pending", headers=tokens["member"]).json()
    assert [item["id"] for item in pending["items"]] == [third, first]
    this_month = api.get(f"/api/entries?period={THIS_MONTH}", headers=tokens["member"]).json()
    assert this_month["total"] == 3
    other_month = shift_period(THIS_MONTH, -1)
    assert (
        api.get(f"/api/entries?period={other_month}", headers=tokens["member"]).json()["total"] == 0
    )

    one = api.get("/api/entries?limit=1", headers=tokens["member"]).json()
    assert [item["id"] for item in one["items"]] == [third] and one["next_offset"] == 1
    two = api.get("/api/entries?limit=1&offset=1", headers=tokens["member"]).json()
    assert [item["id"] for item in two["items"]] == [second] and two["next_offset"] == 2
    last = api.get("/api/entries?limit=2&offset=2", headers=tokens["member"]).json()
    assert [item["id"] for item in last["items"]] == [first] and last["next_offset"] is None


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("status=done", "status"),
        ("period=2026-13", "period"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("limit=x", "limit"),
    ],
)
def test_my_entries_refuse_bad_parameters(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]], query: str, key: str
) -> None:
    body = assert_error(api.get(f"/api/entries?{query}", headers=tokens["member"]), 400, key)
    assert "schema" in body["detail"]


@pytest.mark.parametrize("username", ["instructor", "admin"])
def test_accounts_without_a_member_record_have_no_entries(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]], username: str
) -> None:
    body = assert_error(api.get("/api/entries", headers=tokens[username]), 403)
    assert "Only party members" in body["detail"]


# --- POST /api/entries -------------------------------------------------------------------


def test_a_member_declares_an_entry(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]], database: Database
) -> None:
    response = api.post("/api/entries", json=ENTRY, headers=tokens["member"])
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["status"] == "pending"
    assert entry["rule_id"] == "volunteer" and entry["quantity"] == "1.5"
    # What was sent (ENTRY's day is fixed at import: a run crossing the town's midnight
    # sends yesterday, still declarable).
    assert entry["activity_date"] == ENTRY["activity_date"]
    assert entry["branch_name"] == "金湾工业园区联合党支部"
    assert entry["description"] == ENTRY["description"]
    with database.transaction(write=False) as session:
        stored = session.get(Entry, entry["id"])
        assert stored is not None and stored.quantity == Decimal("1.5")
    # The quantity defaults to one, as on the form.
    bare = {key: value for key, value in ENTRY.items() if key != "quantity"}
    assert api.post("/api/entries", json=bare, headers=tokens["member"]).json()["quantity"] == "1.0"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"rule_id": None}, "rule_id"),
        ({"rule_id": "Volunteer!"}, "rule_id"),
        ({"activity_date": "2026-02-30"}, "activity_date"),
        ({"quantity": "1.25"}, "quantity"),
        ({"quantity": 1.5}, "quantity"),  # a number could be a float: strings only
        ({"quantity": "-1"}, "quantity"),
        ({"description": ""}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"photos": ["a.jpg"]}, "photos"),  # no such field: photos go through the web form
    ],
)
def test_a_declaration_that_breaks_the_schema_is_400(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    database: Database,
    change: dict[str, Any],
    key: str,
) -> None:
    body = {**ENTRY, **change}
    body = {name: value for name, value in body.items() if value is not None}
    assert_error(api.post("/api/entries", json=body, headers=tokens["member"]), 400, key)
    with database.transaction(write=False) as session:
        assert session.scalar(select(Entry)) is None


def test_a_body_that_is_not_json_is_400(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]]
) -> None:
    response = api.post(
        "/api/entries",
        content=b"rule_id=volunteer",
        headers={**tokens["member"], "content-type": "application/json"},
    )
    assert_error(response, 400)


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        # "tomorrow" is read when the test runs, not when it is collected: a run that
        # crosses the town's midnight would otherwise send today.
        ({"activity_date": TOMORROW}, "activity_date", "future"),
        ({"activity_date": "2019-06-01"}, "activity_date", "No points rules"),
        ({"rule_id": "no_such_rule"}, "rule_id", "Choose an item"),
        ({"rule_id": "missed_meeting"}, "rule_id", "Choose an item"),  # the secretary records it
        ({"quantity": "0"}, "quantity", ""),
        ({"quantity": "9"}, "quantity", ""),  # volunteer: at most 8 hours an entry
        ({"description": "   "}, "description", "Describe what you did"),
    ],
)
def test_a_declaration_the_form_would_refuse_is_422(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    database: Database,
    change: dict[str, str],
    key: str,
    message: str,
) -> None:
    if change.get("activity_date") == TOMORROW:
        change = {"activity_date": (today() + timedelta(days=1)).isoformat()}
    body = assert_error(
        api.post("/api/entries", json={**ENTRY, **change}, headers=tokens["member"]), 422, key
    )
    assert message in body["detail"]
    with database.transaction(write=False) as session:
        assert session.scalar(select(Entry)) is None


def test_a_month_already_published_is_refused(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
) -> None:
    from service.publication.publish import publish_month

    last_month = shift_period(THIS_MONTH, -1)
    with database.transaction() as session:
        # Nothing counts in it: published as the office confirms it.
        publish_month(
            session,
            town.principal(database, "admin"),
            rulebook,
            last_month,
            now=utcnow(),
            confirm_empty=True,
        )
    body = assert_error(
        api.post(
            "/api/entries",
            json={**ENTRY, "activity_date": f"{last_month}-01"},
            headers=tokens["member"],
        ),
        422,
        "activity_date",
    )
    assert "is published" in body["detail"]


def test_a_rule_that_needs_a_photo_is_refused_with_the_reason(
    database: Database, database_url: str, town: SmallTown, tmp_path: Any
) -> None:
    from service.kernel.config import Settings
    from web.app import create_app

    settings = Settings(env="test", database_url=database_url, upload_dir=tmp_path / "uploads")
    app = create_app(settings, database=database, rulebook=rulebook_with_photo_required())
    secret = issue(database, town, "member")
    with TestClient(app=app) as client:
        response = client.post(
            "/api/entries",
            json={**ENTRY, "rule_id": "good_deed", "quantity": "1"},
            headers=bearer(secret),
        )
    body = assert_error(response, 422, "photos")
    assert "photos cannot be sent through the API" in body["detail"]
    assert "declare it on the web form" in body["detail"]


def test_only_members_declare(api: TestClient[Litestar], tokens: dict[str, dict[str, str]]) -> None:
    body = assert_error(api.post("/api/entries", json=ENTRY, headers=tokens["admin"]), 403)
    assert "Only party members" in body["detail"]


# --- GET /api/entries/{id} ---------------------------------------------------------------


def test_one_entry_for_its_member_and_its_reviewers(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
) -> None:
    entry_id = declare(database, town, rulebook, "member")
    for username in ("member", "secretary", "instructor", "admin"):
        response = api.get(f"/api/entries/{entry_id}", headers=tokens[username])
        assert response.status_code == 200, username
        assert response.json()["id"] == entry_id and response.json()["member_name"] == "张伟"
    for username in ("member2", "member3", "secretary2"):
        assert_error(api.get(f"/api/entries/{entry_id}", headers=tokens[username]), 403)
    assert_error(api.get("/api/entries/999999", headers=tokens["member"]), 404)
    # Out of the ids' range: a bad request, before any query.
    assert_error(api.get("/api/entries/0", headers=tokens["member"]), 400)
    assert_error(api.get(f"/api/entries/{2**31}", headers=tokens["member"]), 400)
    # Not a number, or digits of another script: not an id, a bad request too (the
    # kernel's one parser reads every id of the app, web.deps.RecordId).
    assert_error(api.get("/api/entries/abc", headers=tokens["member"]), 400)
    assert_error(api.get("/api/entries/٣", headers=tokens["member"]), 400)


# --- GET /api/reviews --------------------------------------------------------------------


def test_the_review_queue_with_filters_and_pages(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
) -> None:
    earlier = today() - timedelta(days=3)
    a = declare(database, town, rulebook, "member")
    b = declare(database, town, rulebook, "member2", rule_id="study", day=earlier)
    own = declare(database, town, rulebook, "secretary")  # the instructor's to decide
    other = declare(database, town, rulebook, "member3")  # 宝元's
    decided = approved(
        database, town, rulebook, declare(database, town, rulebook, "member"), "secretary"
    )

    queue = api.get("/api/reviews", headers=tokens["secretary"]).json()
    assert [item["id"] for item in queue["items"]] == [a, b]  # oldest first, not own
    assert queue["total"] == 2 and all(item["status"] == "pending" for item in queue["items"])
    assert decided not in [item["id"] for item in queue["items"]]

    instructor = api.get("/api/reviews", headers=tokens["instructor"]).json()
    assert [item["id"] for item in instructor["items"]] == [a, b, own]
    office = api.get("/api/reviews", headers=tokens["admin"]).json()
    assert [item["id"] for item in office["items"]] == [a, b, own, other]

    def ids(query: str, who: str = "admin") -> list[int]:
        response = api.get(f"/api/reviews?{query}", headers=tokens[who])
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(f"branch_id={town.baoyuan}") == [other]
    assert ids("rule_id=study") == [b]
    assert ids(f"date_to={earlier.isoformat()}") == [b]
    assert ids(f"date_from={today().isoformat()}") == [a, own, other]
    day = today().isoformat()
    assert ids(f"date_from={day}&date_to={day}&rule_id=volunteer&branch_id={town.jinwan}") == [
        a,
        own,
    ]
    assert ids(f"branch_id={town.jinwan}", who="secretary") == [a, b]
    assert ids("limit=1&offset=1") == [b]
    page = api.get("/api/reviews?limit=3", headers=tokens["admin"]).json()
    assert page["next_offset"] == 3 and page["total"] == 4


def test_the_review_queue_is_for_reviewers_of_their_branches(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]], town: SmallTown
) -> None:
    # Refused before anything is read, as on the review page.
    assert_error(api.get("/api/reviews", headers=tokens["member"]), 403)
    body = assert_error(
        api.get(f"/api/reviews?branch_id={town.baoyuan}", headers=tokens["secretary"]), 403
    )
    assert "do not review this branch" in body["detail"]
    assert_error(
        api.get("/api/reviews?date_from=yesterday", headers=tokens["secretary"]), 400, "date_from"
    )
    assert_error(api.get("/api/reviews?rule_id=A", headers=tokens["secretary"]), 400, "rule_id")


# --- POST /api/reviews/{id}/approve and /reject ------------------------------------------


def test_approve_then_409(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
) -> None:
    entry_id = declare(database, town, rulebook, "member", quantity="2")
    response = api.post(f"/api/reviews/{entry_id}/approve", headers=tokens["secretary"])
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["points_counted"] == "6.0"  # volunteer: 3 points an hour
    assert decision["entry"]["status"] == "approved" and decision["entry"]["points"] == "6.0"
    assert decision["entry"]["decided_by"] == "王书记"
    with database.transaction(write=False) as session:
        assert session.scalar(
            select(LedgerLine.points).where(LedgerLine.entry_id == entry_id)
        ) == Decimal("6.0")

    again = assert_error(
        api.post(f"/api/reviews/{entry_id}/approve", headers=tokens["instructor"]), 409
    )
    assert "no longer pending" in again["detail"]
    rejected = api.post(
        f"/api/reviews/{entry_id}/reject", json={"reason": "重复申报"}, headers=tokens["secretary"]
    )
    assert_error(rejected, 409)
    assert_error(api.post("/api/reviews/999999/approve", headers=tokens["secretary"]), 404)


def test_nobody_decides_their_own_entry(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
) -> None:
    own = declare(database, town, rulebook, "secretary")
    body = assert_error(api.post(f"/api/reviews/{own}/approve", headers=tokens["secretary"]), 403)
    assert "Nobody reviews their own entry" in body["detail"]
    assert api.post(f"/api/reviews/{own}/approve", headers=tokens["instructor"]).status_code == 200


def test_reject_needs_a_reason(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
) -> None:
    entry_id = declare(database, town, rulebook, "member3")
    path = f"/api/reviews/{entry_id}/reject"
    assert_error(api.post(path, headers=tokens["secretary2"]), 400)
    assert_error(api.post(path, json={}, headers=tokens["secretary2"]), 400, "reason")
    assert_error(
        api.post(path, json={"reason": "x" * 501}, headers=tokens["secretary2"]), 400, "reason"
    )
    body = assert_error(
        api.post(path, json={"reason": "   "}, headers=tokens["secretary2"]), 422, "reason"
    )
    assert "reason" in body["detail"]
    with database.transaction(write=False) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None and entry.status is EntryStatus.PENDING

    response = api.post(path, json={"reason": "日期与活动记录不符"}, headers=tokens["secretary2"])
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["points_counted"] is None
    assert decision["entry"]["status"] == "rejected"
    assert decision["entry"]["decision_reason"] == "日期与活动记录不符"
    # The member sees why.
    mine = api.get(f"/api/entries/{entry_id}", headers=tokens["member3"]).json()
    assert mine["decision_reason"] == "日期与活动记录不符"


# --- GET /api/members --------------------------------------------------------------------


def test_members_of_the_branches_overseen(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]], town: SmallTown
) -> None:
    def codes(who: str, query: str = "") -> list[str]:
        response = api.get(f"/api/members?{query}", headers=tokens[who])
        assert response.status_code == 200, response.text
        return [member["code"] for member in response.json()["items"]]

    assert codes("secretary") == ["M001", "M002", "M003", "M006"]
    assert codes("instructor") == ["M001", "M002", "M003", "M006"]
    assert codes("secretary2") == ["M004", "M005"]
    assert codes("admin") == ["M001", "M002", "M003", "M004", "M005", "M006"]
    assert codes("admin", "q=刘") == ["M004"]
    assert codes("admin", "q=m00") == ["M001", "M002", "M003", "M004", "M005", "M006"]
    assert codes("secretary", "q=刘") == []  # not of the secretary's branch
    assert codes("admin", f"branch_id={town.baoyuan}") == ["M004", "M005"]
    page = api.get("/api/members?limit=4&offset=4", headers=tokens["admin"]).json()
    assert [m["code"] for m in page["items"]] == ["M005", "M006"]
    assert (page["total"], page["next_offset"]) == (6, None)
    elder = api.get("/api/members?q=赵老", headers=tokens["admin"]).json()["items"][0]
    assert elder == {
        "id": town.member_ids["elder"],
        "code": "M006",
        "name": "赵老",
        "branch_id": town.jinwan,
        "branch_name": "金湾工业园区联合党支部",
        "status": "exempt",
        "active": True,
    }


def test_members_are_not_listed_to_members_or_for_other_branches(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]], town: SmallTown
) -> None:
    assert_error(api.get("/api/members", headers=tokens["member"]), 403)
    body = assert_error(
        api.get(f"/api/members?branch_id={town.baoyuan}", headers=tokens["secretary"]), 403
    )
    assert "access to this branch" in body["detail"]
    assert_error(api.get("/api/members?q=" + "x" * 61, headers=tokens["admin"]), 400, "q")


# --- GET /api/members/{id} ---------------------------------------------------------------


def test_one_member_with_the_months_points_and_rank(
    api: TestClient[Litestar],
    tokens: dict[str, dict[str, str]],
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
) -> None:
    approved(
        database,
        town,
        rulebook,
        declare(database, town, rulebook, "member3", quantity="3"),
        "secretary2",
    )
    approved(
        database,
        town,
        rulebook,
        declare(database, town, rulebook, "member", quantity="2"),
        "secretary",
    )
    approved(
        database,
        town,
        rulebook,
        declare(database, town, rulebook, "member2", quantity="2"),
        "secretary",
    )

    member = api.get(f"/api/members/{town.member_ids['member']}", headers=tokens["member"]).json()
    assert member["code"] == "M001" and member["organisation_name"] is None
    assert member["joined_party_on"] == "2010-07-01"
    assert member["month"] == {"period": THIS_MONTH, "points": "6.0", "rank": 2, "tied": True}

    leader = api.get(f"/api/members/{town.member_ids['member3']}", headers=tokens["admin"]).json()
    assert leader["month"] == {"period": THIS_MONTH, "points": "9.0", "rank": 1, "tied": False}
    elder = api.get(f"/api/members/{town.member_ids['elder']}", headers=tokens["secretary"]).json()
    assert elder["month"] == {"period": THIS_MONTH, "points": "0.0", "rank": None, "tied": False}

    earlier = shift_period(THIS_MONTH, -1)
    past = api.get(
        f"/api/members/{town.member_ids['member']}?period={earlier}", headers=tokens["member"]
    ).json()
    assert past["month"] == {"period": earlier, "points": "0.0", "rank": None, "tied": False}
    assert_error(
        api.get(
            f"/api/members/{town.member_ids['member']}?period=2026-1", headers=tokens["member"]
        ),
        400,
        "period",
    )


def test_a_member_is_for_themselves_their_reviewers_and_the_office(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]], town: SmallTown
) -> None:
    path = f"/api/members/{town.member_ids['member']}"
    for username in ("member", "secretary", "instructor", "admin"):
        assert api.get(path, headers=tokens[username]).status_code == 200, username
    for username in ("member2", "member3", "secretary2"):
        assert_error(api.get(path, headers=tokens[username]), 403)
    assert_error(api.get("/api/members/999999", headers=tokens["admin"]), 404)


# --- language, and the boards with a token -------------------------------------------------


def test_errors_speak_the_requested_language(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]]
) -> None:
    chinese = {**tokens["admin"], "Accept-Language": "zh-CN"}
    body = assert_error(api.get("/api/entries", headers=chinese), 403)
    zh = translations("zh_CN").gettext("Only party members have entries of their own.")
    assert body["detail"] == zh
    english = assert_error(api.get("/api/entries", headers=tokens["admin"]), 403)
    assert english["detail"] == "Only party members have entries of their own."


def test_the_boards_and_me_take_a_token(
    api: TestClient[Litestar], tokens: dict[str, dict[str, str]]
) -> None:
    for path in (
        "/api/me",
        f"/api/boards/{THIS_MONTH}/members",
        f"/api/boards/{THIS_MONTH}/branches",
    ):
        assert api.get(path, headers=tokens["instructor"]).status_code == 200, path


# --- the OpenAPI document ------------------------------------------------------------------


@pytest.fixture
def schema(api: TestClient[Litestar]) -> dict[str, Any]:
    response = api.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_the_schema_describes_the_api_alone(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    assert all(path.startswith("/api/") for path in paths), sorted(paths)
    assert {
        "/api/entries",
        "/api/entries/{entry_id}",
        "/api/reviews",
        "/api/reviews/{entry_id}/approve",
        "/api/reviews/{entry_id}/reject",
        "/api/members",
        "/api/members/{member_id}",
    } <= set(paths)


def test_the_schema_declares_token_and_cookie_security(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "jft_...",
        "description": schemes["bearer"]["description"],
    }
    assert (schemes["session"]["type"], schemes["session"]["in"]) == ("apiKey", "cookie")
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = {name for requirement in operation["security"] for name in requirement}
            # Changes take the token only; reads take either.
            assert names == ({"bearer"} if method == "post" else {"bearer", "session"}), path
            responses = operation["responses"]
            assert "401" in responses, (method, path)
            # Boards and published results are for every signed-in reader: no 403.
            if path not in ("/api/me",) and not path.startswith(("/api/boards", "/api/results")):
                assert "403" in responses, (method, path)
            if "{" in path and not path.startswith("/api/boards"):
                assert "404" in responses, (method, path)
            assert operation.get("summary"), (method, path)


def test_the_schema_has_examples(schema: dict[str, Any]) -> None:
    schemas = schema["components"]["schemas"]
    assert schemas["NewEntry"]["examples"][0]["rule_id"] == "volunteer"
    assert schemas["NewEntry"]["properties"]["quantity"]["type"] == "string"
    assert schemas["EntryOut"]["properties"]["points"]["examples"] == ["4.0"]
    assert "examples" in schemas["Rejection"]
    approve = schema["paths"]["/api/reviews/{entry_id}/approve"]["post"]
    assert "409" in approve["responses"]
    conflict = approve["responses"]["409"]["content"]["application/json"]
    assert next(iter(conflict["examples"].values()))["value"]["status_code"] == 409
    declare_op = schema["paths"]["/api/entries"]["post"]
    assert "422" in declare_op["responses"] and "photo" in declare_op["description"].lower()
    assert "Bearer" in schema["info"]["description"]
