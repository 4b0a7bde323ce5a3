"""Adopting a ruleset on /admin/rules through HTTP: the check's problems beside the
field, the preview, the reason, the listing with its digest and the export, and the
next approval scoring by the new version in the same running app."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import date
from typing import Any

from sqlalchemy import func, select

from service.kernel.periods import period_of, shift_period
from service.persistence.db import Database
from service.persistence.models import AdoptedRuleset, AuditEvent, Entry, LedgerLine
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.functional.test_admin_pages import signed_in, today
from tests.integration.test_rules_adoption import candidate

HIDDEN = re.compile(r'<input type="hidden" name="(candidate_b64|source)" value="([^"]*)">')


def adopted(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(AdoptedRuleset)) or 0


def upload(browser: Browser, name: str, content: bytes) -> Any:
    token = browser.csrf_token("/admin/rules")
    return browser.client.post(
        "/admin/rules/preview",
        data={"_csrf_token": token, "candidate": "", "month": ""},
        files={"file": (name, content, "application/toml")},
        follow_redirects=False,
    )


def adoption_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def test_a_broken_file_shows_its_problems_beside_the_field_and_adopts_nothing(
    town: SmallTown, make_browser: Any, database: Database, rulebook: Rulebook
) -> None:
    admin = signed_in(make_browser, "admin")
    broken = candidate(rulebook).replace("cap_per_month = 10", "cap_per_mounth = 10", 1)
    response = upload(admin, "2026.12.toml", broken.encode("utf-8"))
    assert response.status_code == 422
    text = html.unescape(response.text)
    problems = re.search(r'id="candidate-error">(.*?)</div>', text, re.DOTALL)
    assert problems, "no problems beside the candidate field"
    assert "The candidate ruleset has 1 problem; nothing was previewed or adopted" in text
    assert (
        "2026.12.toml: rule 'good_deed' field 'cap_per_mounth': Extra inputs are not permitted"
        in problems.group(1)
    )
    assert "/admin/rules/adopt" not in response.text
    assert adopted(database) == 0


def test_a_good_file_is_previewed_then_adopted_and_scores_the_next_approval(
    town: SmallTown, make_browser: Any, database: Database, rulebook: Rulebook
) -> None:
    admin = signed_in(make_browser, "admin")
    content = candidate(rulebook).replace("\r\n", "\n").encode("utf-8")
    digest = hashlib.sha256(content).hexdigest()
    preview = upload(admin, "next.toml", content)
    assert preview.status_code == 200, preview.text
    assert "What version next would change" in preview.text
    assert "Adopt version next" in preview.text and digest in preview.text
    fields = adoption_fields(preview.text)
    assert base64.b64decode(fields["candidate_b64"]) == content
    assert adopted(database) == 0  # a preview stores nothing

    no_reason = admin.submit("/admin/rules", "/admin/rules/adopt", {**fields, "reason": " "})
    assert no_reason.status_code == 422
    assert re.search(r'id="reason-error">Say why this version is adopted.<', no_reason.text)
    assert adopted(database) == 0

    done = admin.submit(
        "/admin/rules", "/admin/rules/adopt", {**fields, "reason": "县委组织部12月通知"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/rules?done=adopted"
    page = admin.client.get("/admin/rules?done=adopted")
    assert "The new version is adopted; it scores from its effective date on." in page.text
    row = re.search(r"<tr>\s*<td>next</td>(.*?)</tr>", page.text, re.DOTALL)
    assert row, "the adopted version is not listed"
    assert "adopted on the web by admin" in row.group(1) and digest in row.group(1)
    assert "县委组织部12月通知" in row.group(1)
    exported = admin.client.get("/admin/rules/versions/next/toml")
    assert exported.status_code == 200 and exported.content == content
    assert 'filename="next.toml"' in exported.headers["content-disposition"]
    with database.transaction(write=False) as session:
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "adopted_ruleset.create")
        ).all()
    assert [event.actor_id for event in audit] == [town.account_ids["admin"]]

    # The same app, not rebuilt: a good deed declared and approved now scores 5 by "next".
    member = signed_in(make_browser, "member")
    declared = member.submit(
        "/entries/new",
        "/entries/new",
        {
            "rule_id": "good_deed",
            "activity_date": today().isoformat(),
            "quantity": "1",
            "description": "在西山桥路口指挥交通",
        },
    )
    assert declared.status_code == 303, declared.text
    with database.transaction(write=False) as session:
        entry_id = session.scalar(select(func.max(Entry.id)))
    secretary = signed_in(make_browser, "secretary")
    assert secretary.submit("/review", f"/review/{entry_id}/approve", {}).status_code == 303
    with database.transaction(write=False) as session:
        lines = session.execute(
            select(LedgerLine.points, LedgerLine.ruleset_version).where(
                LedgerLine.entry_id == entry_id
            )
        ).all()
    assert [(str(points), version) for points, version in lines] == [("5.0", "next")]

    verify = admin.submit("/admin/ledger", "/admin/ledger/verify", {})
    assert verify.status_code == 200
    assert "OK: the ledger and the boards agree with a fresh scoring." in verify.text


def test_the_office_alone_adopts_or_exports(
    town: SmallTown, make_browser: Any, database: Database, rulebook: Rulebook
) -> None:
    secretary = signed_in(make_browser, "secretary")
    encoded = base64.b64encode(candidate(rulebook).encode()).decode()
    refused = secretary.submit(
        "/boards", "/admin/rules/adopt", {"candidate_b64": encoded, "reason": "x"}
    )
    assert refused.status_code == 403
    assert secretary.client.get("/admin/rules/versions/2026.1/toml").status_code == 403
    assert adopted(database) == 0
    admin = signed_in(make_browser, "admin")
    # Without the form's CSRF token nothing is adopted.
    forged = admin.client.post(
        "/admin/rules/adopt",
        data={"candidate_b64": encoded, "reason": "x"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert adopted(database) == 0
    assert admin.client.get("/admin/rules/versions/nope/toml").status_code == 404


def test_a_version_reaching_into_a_published_month_is_previewed_but_not_offered(
    town: SmallTown, make_browser: Any, database: Database, rulebook: Rulebook
) -> None:
    last_month = shift_period(period_of(today()), -1)
    with database.transaction() as session:
        publish_month(
            session,
            town.principal(database, "admin"),
            rulebook,
            last_month,
            now=utcnow(),
            confirm_empty=True,
        )
    admin = signed_in(make_browser, "admin")
    inside = date.fromisoformat(f"{last_month}-15")
    content = candidate(rulebook, effective=inside).encode("utf-8")
    page = upload(admin, "next.toml", content)
    assert page.status_code == 200
    refusal = re.search(r'id="adopt-refused">(.*?)</p>', page.text)
    assert refusal, "no refusal on the page"
    assert f"in or before {last_month}, which is published" in html.unescape(refusal.group(1))
    assert "/admin/rules/adopt" not in page.text
    # Posting the adoption anyway: refused, nothing stored.
    encoded = base64.b64encode(content).decode()
    forced = admin.submit(
        "/admin/rules", "/admin/rules/adopt", {"candidate_b64": encoded, "reason": "县委通知"}
    )
    assert forced.status_code == 409
    assert "which is published" in html.unescape(forced.text)
    assert adopted(database) == 0
