"""The office's outbox page through the real app: the counts per state, the dead
letters with their recipient and error, and retrying one or all (office only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.outbox.emit import emit
from service.persistence.db import Database
from service.persistence.notify import (
    Channel,
    Delivery,
    DeliveryStatus,
    Mode,
    NotifyPreference,
    RobotService,
    RobotWebhook,
)
from tests.conftest import Browser, SmallTown

TOKEN = "outboxsecrettoken5566"


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain="testserver.local")
    browser.login(username)
    return browser


def seed(database: Database, town: SmallTown) -> dict[str, int]:
    """Two dead deliveries (an email to 张伟, a post to 金湾's robot) and one pending."""
    member = town.account_ids["member"]
    with database.transaction() as session:
        session.add(NotifyPreference(account_id=member, kind="entry_approved", mode=Mode.EMAIL))
        session.add(
            RobotWebhook(
                branch_id=town.jinwan, service=RobotService.WECOM,
                url=f"http://127.0.0.1:9/send?key={TOKEN}",
            )
        )  # fmt: skip
        session.flush()
        emit(
            session, "entry_approved",
            params={"rule": "志愿服务", "date": "2026-12-02", "points": "2"},
            link="/me/points", accounts=[member],
        )  # fmt: skip
        emit(
            session, "meeting_scheduled",
            params={"branch": "金湾", "meeting": "主题党日", "date": "2026-12-10",
                    "time": "09:00", "place": "会议室"},
            link="/meetings", branch_id=town.jinwan, broadcast="branch", robots="branch",
        )  # fmt: skip
        emit(
            session, "entry_approved",
            params={"rule": "志愿服务", "date": "2026-12-03", "points": "1"},
            link="/me/points", accounts=[member],
        )  # fmt: skip
        rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        assert [row.channel for row in rows] == [Channel.EMAIL, Channel.WECOM, Channel.EMAIL]
        for row, error in zip(
            rows[:2], ("SMTP 451 try later", "HTTP 500 from the robot"), strict=False
        ):
            row.status, row.attempts, row.last_error = DeliveryStatus.DEAD, 5, error
        session.flush()
        return {"email": rows[0].id, "robot": rows[1].id, "pending": rows[2].id}


def test_the_office_sees_the_dead_letters_and_retries_them(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    ids = seed(database, town)
    admin = signed_in(make_browser, "admin")
    page = admin.client.get("/outbox")
    assert page.status_code == 200
    assert '<dd id="count-dead">2</dd>' in page.text
    assert '<dd id="count-pending">1</dd>' in page.text
    assert "SMTP 451 try later" in page.text and "HTTP 500 from the robot" in page.text
    assert "张伟" in page.text and "Group of 金湾工业园区联合党支部" in page.text
    assert "An entry of mine is approved" in page.text
    assert TOKEN not in page.text
    token = admin.csrf_token("/outbox")
    one = admin.client.post(
        f"/outbox/{ids['email']}/retry", data={"_csrf_token": token}, follow_redirects=False
    )
    assert one.status_code == 303 and one.headers["location"] == "/outbox?done=retried"
    with database.transaction(write=False) as session:
        email = session.get(Delivery, ids["email"])
        assert email is not None and (email.status, email.attempts) == (DeliveryStatus.PENDING, 0)
    again = admin.client.post(
        f"/outbox/{ids['email']}/retry", data={"_csrf_token": token}, follow_redirects=False
    )
    assert again.headers["location"] == "/outbox?done=nothing"
    everything = admin.client.post(
        "/outbox/retry", data={"_csrf_token": token}, follow_redirects=False
    )
    assert everything.status_code == 303
    after = admin.client.get(everything.headers["location"])
    assert '<dd id="count-dead">0</dd>' in after.text
    assert "No message has failed." in after.text
    assert "Every dead message is queued again" in after.text


def test_only_the_office_sees_the_outbox(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    ids = seed(database, town)
    for username in ("member", "secretary", "instructor"):
        browser = signed_in(make_browser, username)
        assert browser.client.get("/outbox").status_code == 403
        token = browser.csrf_token("/inbox")
        refused = browser.client.post(
            f"/outbox/{ids['email']}/retry", data={"_csrf_token": token}, follow_redirects=False
        )
        assert refused.status_code == 403
    with database.transaction(write=False) as session:
        email = session.get(Delivery, ids["email"])
        assert email is not None and email.status == DeliveryStatus.DEAD
    admin = signed_in(make_browser, "admin")
    no_token = admin.client.post("/outbox/retry", follow_redirects=False)
    assert no_token.status_code == 403
