"""API tokens: issued and revoked by the office (account page and `jifen tokens`), shown
once and stored only as a hash, accepted as ``Authorization: Bearer`` under /api for
reads and changes, while changes refuse the session cookie (they would be open to
cross-site request forgery: /api takes no CSRF token). A revoked or expired token, or
one whose account is disabled, gets 401 with the RFC 6750 challenge. A token acts as
its account: the services' object-level checks apply, swept here role × object with
the object-access tables (tests/functional/test_object_access.py).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, text, update

from service.accounts.admin import disable_account
from service.accounts.api_tokens import digest, issue_token
from service.cli import main
from service.cli.common import CliContext
from service.entries.entry import EntryInput, submit_entry
from service.kernel.config import Settings
from service.persistence.db import Database
from service.persistence.models import Account, ApiToken, AuditEvent, Base, Entry, EntryStatus
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown, raw_connection
from tests.functional.test_object_access import (
    ENTRY_VIEWERS,
    MEETING_VIEW,
    POINTS,
    POST_ORDER,
    RELATIONS,
    REVIEW,
    SIGNED_IN,
    Row,
    build,
    expected,
    fill,
    target,
)
from tests.functional.test_permission_matrix import today
from web.auth import INVALID_TOKEN
from web.i18n import translations

HOST = "testserver.local"
SECRET = re.compile(r"jft_[A-Za-z0-9_-]{43}")
ENTRY = {
    "rule_id": "volunteer",
    "activity_date": today().isoformat(),
    "quantity": "1.5",
    "description": "在西山桥路口协助指挥交通",
}


# --- helpers shared with test_api_endpoints.py -------------------------------------------


def issue(database: Database, town: SmallTown, username: str, *, days: int | None = None) -> str:
    """A token for ``username``'s account, issued by the office; its secret."""
    with database.transaction() as session:
        issued = issue_token(
            session,
            town.principal(database, "admin"),
            town.account_ids[username],
            "区党建平台同步",
            days=days,
            now=utcnow(),
        )
    return issued.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}


def submit(database: Database, town: SmallTown, rulebook: Rulebook, username: str) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput("volunteer", today(), Decimal(1), "为工友子女联系入学"),
            today=today(),
            now=utcnow(),
        )


def english(browser: Browser) -> Browser:
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    return browser


def every_text_value(database: Database) -> str:
    """Every value of every table as text: where a secret must never be."""
    parts: list[str] = []
    with raw_connection(database) as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


def token_row(database: Database, secret: str) -> ApiToken | None:
    with database.transaction(write=False) as session:
        return session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))


@pytest.fixture
def admin(town: SmallTown, make_browser: Any) -> Browser:
    browser = english(make_browser())
    browser.login("admin")
    return browser


# --- the office issues and revokes on the account page -----------------------------------


def issue_on_page(admin: Browser, account_id: int, name: str, days: str = "30") -> Any:
    page = f"/admin/accounts/{account_id}"
    return admin.submit(page, f"{page}/tokens", {"name": name, "days": days})


def test_the_office_issues_a_token_shown_once(
    admin: Browser, town: SmallTown, database: Database, client: TestClient[Litestar]
) -> None:
    account = town.account_ids["member"]
    page = admin.client.get(f"/admin/accounts/{account}")
    assert "API tokens" in page.text and "No API token has been issued" in page.text

    response = issue_on_page(admin, account, "区党建平台同步")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "shown only this once" in response.text
    (secret,) = SECRET.findall(response.text)

    # Stored as its SHA-256 only; the secret is in no table, not even the audit log.
    row = token_row(database, secret)
    assert row is not None
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.prefix == secret[:8] and row.name == "区党建平台同步"
    assert row.created_by_id == town.account_ids["admin"]
    assert row.expires_at is not None
    assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    stored = every_text_value(database)
    assert secret not in stored and secret[8:] not in stored
    with database.transaction(write=False) as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.kind == "api_token.create"))
    assert event.actor_id == town.account_ids["admin"]
    assert '"token_hash": "set"' in (event.after or "")
    assert row.token_hash not in (event.after or "")

    # Never shown again: the page lists the token by its prefix alone.
    again = admin.client.get(f"/admin/accounts/{account}")
    assert not SECRET.search(again.text)
    assert f"{secret[:8]}…" in again.text and "never used" in again.text

    # And it works: the token acts as the member.
    me = client.get("/api/me", headers=bearer(secret))
    assert me.status_code == 200 and me.json()["username"] == "member"


@pytest.mark.parametrize(
    ("name", "days", "field", "message"),
    [
        ("", "30", "name", "Say what the token is for"),
        ("x" * 81, "30", "name", "too long"),
        ("同步", "0", "days", "from 1 to 3650"),
        ("同步", "abc", "days", "from 1 to 3650"),
        ("同步", "3651", "days", "from 1 to 3650"),
    ],
)
def test_the_issue_form_says_what_is_wrong(
    admin: Browser,
    town: SmallTown,
    database: Database,
    name: str,
    days: str,
    field: str,
    message: str,
) -> None:
    response = issue_on_page(admin, town.account_ids["member"], name, days)
    assert response.status_code == 422
    error = re.search(
        rf'<p class="field-error" role="alert" id="{field}-error">(.*?)</p>', response.text
    )
    assert error and message in html.unescape(error.group(1))
    assert not SECRET.search(response.text)
    with database.transaction(write=False) as session:
        assert session.scalar(select(ApiToken)) is None


def test_an_empty_expiry_lasts_until_revoked(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    response = issue_on_page(admin, town.account_ids["secretary"], "审核机器人", days="")
    (secret,) = SECRET.findall(response.text)
    row = token_row(database, secret)
    assert row is not None and row.expires_at is None


def test_a_disabled_account_gets_no_token(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    account = town.account_ids["member2"]
    with database.transaction() as session:
        disable_account(session, town.principal(database, "admin"), account, now=utcnow())
    page = admin.client.get(f"/admin/accounts/{account}")
    assert "enable the account to issue one" in page.text
    token = admin.csrf_token(f"/admin/accounts/{account}")
    response = admin.client.post(
        f"/admin/accounts/{account}/tokens",
        data={"name": "同步", "days": "30", "_csrf_token": token},
    )
    assert response.status_code == 409
    assert "enable it before issuing a token" in response.text


def test_the_office_revokes_a_token(
    admin: Browser,
    town: SmallTown,
    database: Database,
    client: TestClient[Litestar],
) -> None:
    secret = issue(database, town, "member")
    assert client.get("/api/me", headers=bearer(secret)).status_code == 200
    row = token_row(database, secret)
    assert row is not None
    account = town.account_ids["member"]
    page = f"/admin/accounts/{account}"

    # Through another account's page: not that account's token.
    other = town.account_ids["member2"]
    wrong = admin.submit(
        f"/admin/accounts/{other}", f"/admin/accounts/{other}/tokens/{row.id}/revoke", {}
    )
    assert wrong.status_code == 404

    response = admin.submit(page, f"{page}/tokens/{row.id}/revoke", {})
    assert response.status_code == 303
    assert response.headers["location"] == f"{page}?done=token_revoked"
    listed = admin.client.get(response.headers["location"]).text
    assert "The API token was revoked" in listed and "revoked" in listed

    refused = client.get("/api/me", headers=bearer(secret))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]

    again = admin.submit(page, f"{page}/tokens/{row.id}/revoke", {})
    assert again.status_code == 409
    assert "revoked already" in again.text
    with database.transaction(write=False) as session:
        kinds = [e.kind for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert kinds.count("api_token.update") == 1  # the revocation, audited once


@pytest.mark.parametrize("username", ["member", "secretary", "instructor"])
def test_only_the_office_issues_or_revokes(
    username: str, town: SmallTown, database: Database, make_browser: Any
) -> None:
    secret = issue(database, town, "member2")
    row = token_row(database, secret)
    assert row is not None
    browser = english(make_browser())
    browser.login(username)
    token = browser.csrf_token("/boards")
    account = town.account_ids["member2"]
    issued = browser.client.post(
        f"/admin/accounts/{account}/tokens", data={"name": "x", "days": "", "_csrf_token": token}
    )
    revoked = browser.client.post(
        f"/admin/accounts/{account}/tokens/{row.id}/revoke", data={"_csrf_token": token}
    )
    assert (issued.status_code, revoked.status_code) == (403, 403)
    after = token_row(database, secret)
    assert after is not None and after.revoked_at is None


# --- the command line --------------------------------------------------------------------


@pytest.fixture
def run(database: Database) -> Any:
    settings = Settings(env="test")

    def invoke(args: list[str]) -> Result:
        return CliRunner().invoke(main, args, obj=CliContext(settings, database))

    return invoke


def test_the_cli_issues_lists_and_revokes(
    run: Any, town: SmallTown, database: Database, client: TestClient[Litestar]
) -> None:
    issued = run(["tokens", "issue", "secretary", "--name", "审核机器人", "--days", "7"])
    assert issued.exit_code == 0, issued.output
    # The secret alone on standard output (for a pipe), what it is on standard error.
    secret = issued.stdout.strip()
    assert SECRET.fullmatch(secret), issued.stdout
    assert "issued to secretary" in issued.stderr and "not shown again" in issued.stderr
    assert client.get("/api/me", headers=bearer(secret)).json()["username"] == "secretary"
    assert secret not in every_text_value(database)

    listed = run(["tokens", "list"])
    assert listed.exit_code == 0, listed.output
    assert secret[:8] in listed.output and "secretary" in listed.output
    assert "'审核机器人'  active" in listed.output and secret not in listed.output
    assert "last used:" in listed.output and "never used" not in listed.output
    only_member = run(["tokens", "list", "--account", "member"])
    assert only_member.output.strip() == "no API tokens"

    row = token_row(database, secret)
    assert row is not None
    revoked = run(["tokens", "revoke", str(row.id)])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/me", headers=bearer(secret)).status_code == 401
    assert "revoked" in run(["tokens", "list"]).output
    twice = run(["tokens", "revoke", str(row.id)])
    assert twice.exit_code == 1 and "revoked already" in twice.output

    with database.transaction(write=False) as session:
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.object_type == "api_token")
                .order_by(AuditEvent.id)
            )
        )
    assert [e.kind for e in events] == ["api_token.create", "api_token.update"]
    assert all(e.ip_address == "cli" and e.actor_id == town.account_ids["admin"] for e in events)


def test_the_cli_refuses_what_the_page_refuses(run: Any, town: SmallTown) -> None:
    unknown = run(["tokens", "issue", "nobody", "--name", "x"])
    assert unknown.exit_code == 1 and "No account has this username" in unknown.output
    nameless = run(["tokens", "issue", "member", "--name", " "])
    assert nameless.exit_code == 1 and "name:" in nameless.output
    too_long = run(["tokens", "issue", "member", "--name", "x", "--days", "4000"])
    assert too_long.exit_code == 2
    missing = run(["tokens", "revoke", "999999"])
    assert missing.exit_code == 1 and "No such API token" in missing.output


# --- bearer tokens on the API --------------------------------------------------------------


@pytest.fixture
def api(client: TestClient[Litestar]) -> TestClient[Litestar]:
    return client


def test_a_token_reads_and_writes(
    api: TestClient[Litestar], town: SmallTown, database: Database
) -> None:
    secret = issue(database, town, "member")
    assert api.get("/api/me", headers=bearer(secret)).json()["display_name"] == "张伟"
    created = api.post("/api/entries", json=ENTRY, headers=bearer(secret))
    assert created.status_code == 201, created.text
    entry = created.json()
    assert (entry["status"], entry["quantity"], entry["member_name"]) == ("pending", "1.5", "张伟")
    listed = api.get("/api/entries", headers=bearer(secret)).json()
    assert [item["id"] for item in listed["items"]] == [entry["id"]]
    # The change is audited as the token's account, from the client's address.
    with database.transaction(write=False) as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.kind == "entry.create"))
    assert event.actor_id == town.account_ids["member"]
    assert event.ip_address == "testclient"


def test_the_session_cookie_reads_but_never_writes(
    api: TestClient[Litestar], browser: Browser, town: SmallTown, database: Database
) -> None:
    """A change through the cookie would be forgeable from another site: /api takes no
    CSRF token, so the cookie does not authorise any POST under /api, not even with a
    valid CSRF token alongside."""
    browser.login("member")
    assert api.get("/api/me").status_code == 200
    csrf = browser.csrf_token("/boards")
    before = every_text_value(database)
    for headers in ({}, {"x-csrftoken": csrf}):
        response = api.post(
            "/api/entries", json=ENTRY, headers={"Accept-Language": "en", **headers}
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="jifen"'
        assert response.json()["status_code"] == 401
        assert "session cookie of the web pages is not accepted" in response.json()["detail"]
    form = api.post("/api/entries", data={**ENTRY, "_csrf_token": csrf})
    assert form.status_code == 401
    # Another scheme is no way around it either: refused, not ignored for the cookie.
    for method in ("GET", "POST"):
        basic = api.request(
            method,
            "/api/entries",
            json=ENTRY,
            headers={"Accept-Language": "en", "Authorization": "Basic bWVtYmVyOng="},
        )
        assert basic.status_code == 401
        assert basic.headers["www-authenticate"] == 'Bearer realm="jifen", error="invalid_request"'
        assert "API tokens only" in basic.json()["detail"]
    assert every_text_value(database) == before


def test_without_credentials_the_api_asks_for_a_token(
    api: TestClient[Litestar], town: SmallTown
) -> None:
    response = api.get("/api/entries", headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="jifen"'
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize(
    "case", ["revoked", "expired", "disabled", "unknown", "malformed", "empty"]
)
def test_an_invalid_token_is_refused(
    case: str, api: TestClient[Litestar], browser: Browser, town: SmallTown, database: Database
) -> None:
    secret = issue(database, town, "member", days=1)
    assert api.get("/api/me", headers=bearer(secret)).status_code == 200
    row = token_row(database, secret)
    assert row is not None
    with database.transaction() as session:
        if case == "revoked":
            session.execute(update(ApiToken).values(revoked_at=utcnow()))
        elif case == "expired":
            session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        elif case == "disabled":
            admin = town.principal(database, "admin")
            disable_account(session, admin, town.account_ids["member"], now=utcnow())
    sent = {
        "unknown": "jft_" + "A" * 43,
        "malformed": "not-a-jifen-token",
        "empty": "",
    }.get(case, secret)
    # A valid session alongside changes nothing: the token decides.
    browser.login("secretary")
    for method, path in (("GET", "/api/me"), ("POST", "/api/entries")):
        response = api.request(method, path, json=ENTRY, headers=bearer(sent))
        assert response.status_code == 401, (method, response.text)
        assert response.headers["www-authenticate"] == 'Bearer realm="jifen", error="invalid_token"'
        assert response.headers["content-type"].startswith("application/json")
        assert "not valid" in response.json()["detail"]
    with database.transaction(write=False) as session:
        assert session.scalar(select(Entry)) is None


def test_an_invalid_token_is_explained_in_the_default_language(
    api: TestClient[Litestar], town: SmallTown, database: Database
) -> None:
    """Chinese unless the client asks otherwise, through the catalog like every page."""
    response = api.get("/api/me", headers={"Authorization": "Bearer jft_nothing"})
    assert response.status_code == 401
    assert response.json()["detail"] == translations("zh_CN").gettext(INVALID_TOKEN)


def test_a_token_is_for_the_api_only(
    api: TestClient[Litestar], town: SmallTown, database: Database
) -> None:
    """The pages are for browsers: a bearer token does not sign anyone in there."""
    secret = issue(database, town, "admin")
    page = api.get("/admin", headers=bearer(secret), follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_last_use_is_recorded_at_most_once_a_minute(
    api: TestClient[Litestar], town: SmallTown, database: Database
) -> None:
    secret = issue(database, town, "member")
    assert (row := token_row(database, secret)) is not None and row.last_used_at is None
    api.get("/api/me", headers=bearer(secret))
    first = token_row(database, secret)
    assert first is not None and first.last_used_at is not None
    api.get("/api/me", headers=bearer(secret))
    second = token_row(database, secret)
    assert second is not None and second.last_used_at == first.last_used_at
    earlier = utcnow() - timedelta(minutes=2)
    with database.transaction() as session:
        session.execute(update(ApiToken).values(last_used_at=earlier))
    api.get("/api/me", headers=bearer(secret))
    third = token_row(database, secret)
    assert third is not None and third.last_used_at is not None
    assert third.last_used_at > earlier + timedelta(minutes=1)
    # Use is not a change anyone made: not in the audit log.
    with database.transaction(write=False) as session:
        kinds = list(session.scalars(select(AuditEvent.kind)))
    assert "api_token.update" not in kinds


def test_no_token_is_stored_in_clear(town: SmallTown, database: Database) -> None:
    secrets_issued = [issue(database, town, name) for name in ("member", "secretary", "admin")]
    stored = every_text_value(database)
    for secret in secrets_issued:
        assert secret not in stored
    with raw_connection(database) as connection:
        hashes = connection.execute(text("SELECT token_hash FROM api_token")).scalars().all()
    assert sorted(hashes) == sorted(digest(secret) for secret in secrets_issued)


# --- a token acts as its account: per-object permissions -----------------------------------


def test_a_member_token_cannot_read_another_members_entry(
    api: TestClient[Litestar], town: SmallTown, database: Database, rulebook: Rulebook
) -> None:
    mine = submit(database, town, rulebook, "member")
    theirs = submit(database, town, rulebook, "member2")
    secret = issue(database, town, "member")
    assert api.get(f"/api/entries/{mine}", headers=bearer(secret)).status_code == 200
    refused = api.get(f"/api/entries/{theirs}", headers=bearer(secret))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This entry is not yours to see."
    assert "为工友子女联系入学" not in refused.text


def test_a_secretary_token_cannot_approve_another_branchs_entry(
    api: TestClient[Litestar], town: SmallTown, database: Database, rulebook: Rulebook
) -> None:
    other_branch = submit(database, town, rulebook, "member3")
    own_branch = submit(database, town, rulebook, "member")
    secret = issue(database, town, "secretary")
    refused = api.post(f"/api/reviews/{other_branch}/approve", headers=bearer(secret))
    assert refused.status_code == 403
    assert "branch you do not review" in refused.json()["detail"]
    assert api.post(f"/api/reviews/{own_branch}/approve", headers=bearer(secret)).status_code == 200
    with database.transaction(write=False) as session:
        assert session.get(Entry, other_branch).status is EntryStatus.PENDING  # type: ignore[union-attr]
        assert session.get(Entry, own_branch).status is EntryStatus.APPROVED  # type: ignore[union-attr]


API_GETS: tuple[Row, ...] = (
    # Missing entries are 404 to everyone: an entry is looked up before who may see it.
    Row(
        "GET",
        "/api/entries/{obj}",
        "pending",
        ENTRY_VIEWERS,
        exceptions={("member", "missing"): 404},
    ),
    Row("GET", "/api/members/{obj}", "member", POINTS),
    Row("GET", "/api/meetings/{obj}/attendance", "meeting", MEETING_VIEW),
)
API_POSTS: tuple[Row, ...] = (
    Row("POST", "/api/reviews/{obj}/approve", "pending", REVIEW),
    Row("POST", "/api/reviews/{obj}/reject", "pending", REVIEW, form={"reason": "与活动记录不符"}),
)


@pytest.fixture
def token_for(town: SmallTown, database: Database) -> Iterator[Any]:
    def make(role: str) -> str:
        return issue(database, town, role)

    yield make


def run_with_token(
    row: Row,
    role: str,
    relation: str,
    api: TestClient[Litestar],
    secret: str,
    world: Any,
    town: SmallTown,
) -> str | None:
    where = target(world, town, row, role, relation)
    if where is None:
        return None
    path = fill(row.path, world, where)
    if row.method == "GET":
        response = api.get(path, headers=bearer(secret))
    else:
        response = api.post(path, json=row.form or None, headers=bearer(secret))
    want = expected(row, role, relation)
    if response.status_code == want:
        return None
    return f"{row} as {role}, {relation} ({path}): got {response.status_code}, expected {want}"


@pytest.mark.parametrize("role", SIGNED_IN)
def test_reads_by_object_with_a_token(
    role: str,
    api: TestClient[Litestar],
    town: SmallTown,
    rulebook: Rulebook,
    database: Database,
    token_for: Any,
) -> None:
    world = build(database, town, rulebook, frozenset({"pending", "member"}))
    secret = token_for(role)
    wrong = [
        problem
        for row in API_GETS
        for relation in RELATIONS
        if (problem := run_with_token(row, role, relation, api, secret, world, town))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", SIGNED_IN)
@pytest.mark.parametrize("row", API_POSTS, ids=str)
def test_decisions_by_object_with_a_token(
    role: str,
    row: Row,
    api: TestClient[Litestar],
    town: SmallTown,
    rulebook: Rulebook,
    database: Database,
    token_for: Any,
) -> None:
    world = build(database, town, rulebook, frozenset({row.kind}))
    secret = token_for(role)
    wrong = [
        problem
        for relation in POST_ORDER
        if (problem := run_with_token(row, role, relation, api, secret, world, town))
    ]
    assert not wrong, "\n".join(wrong)


def test_disabling_an_account_stops_its_tokens_and_enabling_restores_them(
    api: TestClient[Litestar], town: SmallTown, database: Database
) -> None:
    """Disabling is the office's "stop everything this account does" (sessions end at
    once); its tokens follow. They are not revoked: enabling the account again brings
    them back, as it would let the person sign in again."""
    from service.accounts.admin import enable_account

    secret = issue(database, town, "member2")
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        disable_account(session, admin, town.account_ids["member2"], now=utcnow())
    assert api.get("/api/me", headers=bearer(secret)).status_code == 401
    with database.transaction() as session:
        enable_account(session, admin, town.account_ids["member2"])
    assert api.get("/api/me", headers=bearer(secret)).status_code == 200
    with database.transaction(write=False) as session:
        account = session.get(Account, town.account_ids["member2"])
        assert account is not None and account.is_active


def test_an_address_sending_invalid_tokens_is_paused_like_a_sign_in(
    town: SmallTown, database: Database, rulebook: Rulebook, database_url: str
) -> None:
    """A bearer token is a secret like a password: an address that keeps sending ones
    that are not valid is paused by the sign-in throttle (429, the token not looked at),
    and only that address."""
    from web.app import create_app

    settings = Settings(env="test", database_url=database_url, trusted_proxy=True)
    app = create_app(settings, database=database, rulebook=rulebook)
    secret = issue(database, town, "member")
    guesser = {**bearer("jft_" + "B" * 43), "X-Forwarded-For": "203.0.113.66"}
    with TestClient(app=app) as api:
        for _ in range(5):
            assert api.get("/api/me", headers=guesser).status_code == 401
        paused = api.get("/api/me", headers={**guesser, **bearer(secret)})
        assert paused.status_code == 429
        assert paused.json() == {
            "status_code": 429,
            "detail": "Too many requests from this address with an API token that is not "
            "valid. Try again later.",
        }
        assert 0 < int(paused.headers["retry-after"]) <= 60
        # The integration elsewhere goes on working.
        elsewhere = api.get("/api/me", headers={**bearer(secret), "X-Forwarded-For": "192.0.2.8"})
        assert elsewhere.status_code == 200
