"""A branch's party groups and meeting organisers through the HTML forms
(/branches/{id}/groups): the secretary keeps them, the instructor reads them, every
refusal is a page that says why and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from service.persistence.db import Database
from service.persistence.meetings import (
    Audience,
    Meeting,
    MeetingOrganiser,
    MeetingStatus,
    PartyGroup,
    PartyGroupMember,
)
from service.persistence.types import utcnow
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


def page_of(town: SmallTown) -> str:
    return f"/branches/{town.jinwan}/groups"


def groups(database: Database, branch_id: int) -> dict[str, set[int]]:
    with database.transaction(write=False) as session:
        found: dict[str, set[int]] = {}
        for group in session.scalars(select(PartyGroup).where(PartyGroup.branch_id == branch_id)):
            found[group.name] = set(
                session.scalars(
                    select(PartyGroupMember.member_id).where(PartyGroupMember.group_id == group.id)
                )
            )
        return found


def group_id(database: Database, name: str) -> int:
    with database.transaction(write=False) as session:
        found = session.scalar(select(PartyGroup.id).where(PartyGroup.name == name))
        assert found is not None
        return found


def test_the_secretary_creates_a_group_and_chooses_its_members(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    branch_page = secretary.client.get(f"/branches/{town.jinwan}")
    assert f'href="{page_of(town)}"' in branch_page.text
    page = secretary.client.get(page_of(town))
    assert page.status_code == 200
    assert "no party groups yet" in page.text
    response = secretary.submit(page_of(town), page_of(town), {"name": "第一党小组"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{page_of(town)}?done=created"
    first = group_id(database, "第一党小组")
    page = secretary.client.get(response.headers["location"])
    assert "The party group was created." in page.text
    # The check boxes list the branch's members (the exempt elder too: groups are not
    # rankings), never another branch's.
    assert 'name="member_ids"' in page.text
    assert "刘洋" not in page.text
    chosen = [town.member_ids["member"], town.member_ids["member2"]]
    response = secretary.submit(
        page_of(town), f"{page_of(town)}/{first}/members", {"member_ids": [str(i) for i in chosen]}
    )
    assert response.status_code == 303
    assert groups(database, town.jinwan) == {"第一党小组": set(chosen)}
    page = secretary.client.get(page_of(town))
    assert "2 members: 张伟、李娜" in page.text
    response = secretary.submit(page_of(town), f"{page_of(town)}/{first}/rename", {"name": "一组"})
    assert response.status_code == 303
    assert groups(database, town.jinwan) == {"一组": set(chosen)}
    # Unticking everyone empties the group.
    response = secretary.submit(page_of(town), f"{page_of(town)}/{first}/members", {})
    assert response.status_code == 303
    assert groups(database, town.jinwan) == {"一组": set()}
    # Deleting asks once more, without JavaScript (a folded confirmation).
    assert "Yes, delete 一组" in secretary.client.get(page_of(town)).text
    response = secretary.submit(page_of(town), f"{page_of(town)}/{first}/delete", {})
    assert response.status_code == 303
    assert groups(database, town.jinwan) == {}


def test_a_name_that_is_missing_or_taken_is_refused_beside_the_field(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    refused = secretary.submit(page_of(town), page_of(town), {"name": "  "})
    assert refused.status_code == 422
    assert "This field is required." in refused.text
    assert 'aria-invalid="true"' in refused.text
    secretary.submit(page_of(town), page_of(town), {"name": "一组"})
    refused = secretary.submit(page_of(town), page_of(town), {"name": "一组"})
    assert refused.status_code == 422
    assert "already has a party group of that name" in refused.text
    second = secretary.submit(page_of(town), page_of(town), {"name": "二组"})
    assert second.status_code == 303
    refused = secretary.submit(
        page_of(town), f"{page_of(town)}/{group_id(database, '二组')}/rename", {"name": "一组"}
    )
    assert refused.status_code == 422
    assert "already has a party group of that name" in refused.text
    assert set(groups(database, town.jinwan)) == {"一组", "二组"}


def test_a_member_in_another_group_or_branch_is_refused(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    for name in ("一组", "二组"):
        secretary.submit(page_of(town), page_of(town), {"name": name})
    first, second = group_id(database, "一组"), group_id(database, "二组")
    secretary.submit(
        page_of(town),
        f"{page_of(town)}/{first}/members",
        {"member_ids": str(town.member_ids["member"])},
    )
    page = secretary.client.get(page_of(town))
    assert "in 一组" in page.text
    refused = secretary.submit(
        page_of(town),
        f"{page_of(town)}/{second}/members",
        {"member_ids": [str(town.member_ids["member"]), str(town.member_ids["member2"])]},
    )
    assert refused.status_code == 422
    assert "张伟 is already in the party group 一组" in refused.text
    refused = secretary.submit(
        page_of(town),
        f"{page_of(town)}/{second}/members",
        {"member_ids": str(town.member_ids["member3"])},
    )
    assert refused.status_code == 422
    assert "Choose members of this branch from the list." in refused.text
    refused = secretary.submit(
        page_of(town), f"{page_of(town)}/{second}/members", {"member_ids": "not-an-id"}
    )
    assert refused.status_code == 422
    assert groups(database, town.jinwan) == {"一组": {town.member_ids["member"]}, "二组": set()}


def test_a_group_a_scheduled_meeting_expects_is_not_deleted(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    secretary.submit(page_of(town), page_of(town), {"name": "一组"})
    first = group_id(database, "一组")
    now = utcnow()
    with database.transaction() as session:
        session.add(
            Meeting(
                branch_id=town.jinwan,
                kind="group",
                title="一组党小组会",
                starts_at=now + timedelta(days=2),
                ends_at=now + timedelta(days=2, hours=1),
                day=(now + timedelta(days=2)).date(),
                period=(now + timedelta(days=2)).strftime("%Y-%m"),
                audience=Audience.GROUP,
                party_group_id=first,
                status=MeetingStatus.SCHEDULED,
                checkin_secret="0" * 64,
                created_at=now,
                created_by_id=town.account_ids["secretary"],
            )
        )
    refused = secretary.submit(page_of(town), f"{page_of(town)}/{first}/delete", {})
    assert refused.status_code == 409
    assert "A scheduled meeting expects this party group" in refused.text
    assert set(groups(database, town.jinwan)) == {"一组"}


def test_the_instructor_reads_without_forms(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    signed_in(make_browser, "secretary").submit(page_of(town), page_of(town), {"name": "一组"})
    instructor = signed_in(make_browser, "instructor")
    page = instructor.client.get(page_of(town))
    assert page.status_code == 200
    assert "一组" in page.text
    assert "You can read these" in page.text
    assert 'name="member_ids"' not in page.text and 'name="name"' not in page.text
    token = instructor.csrf_token("/boards")
    first = group_id(database, "一组")
    for action, fields in (
        (page_of(town), {"name": "二组"}),
        (f"{page_of(town)}/{first}/rename", {"name": "二组"}),
        (f"{page_of(town)}/{first}/members", {"member_ids": str(town.member_ids["member"])}),
        (f"{page_of(town)}/{first}/delete", {}),
        (f"{page_of(town)}/organisers", {"account_id": str(town.account_ids["member2"])}),
    ):
        response = instructor.client.post(
            action, data={**fields, "_csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 403, action
    assert groups(database, town.jinwan) == {"一组": set()}


@pytest.mark.parametrize("username", ["member", "secretary2"])
def test_others_are_refused(
    town: SmallTown, database: Database, make_browser: Any, username: str
) -> None:
    browser = signed_in(make_browser, username)
    assert browser.client.get(page_of(town), follow_redirects=False).status_code == 403


def test_a_group_through_another_branchs_address_is_not_found(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    signed_in(make_browser, "secretary").submit(page_of(town), page_of(town), {"name": "一组"})
    first = group_id(database, "一组")
    other = signed_in(make_browser, "secretary2")
    base = f"/branches/{town.baoyuan}/groups"
    for action, fields in (
        (f"{base}/{first}/rename", {"name": "改"}),
        (f"{base}/{first}/delete", {}),
        (f"{base}/{first}/members", {}),
        (f"{base}/999999/delete", {}),
    ):
        assert other.submit(base, action, fields).status_code == 404, action
    assert set(groups(database, town.jinwan)) == {"一组"}


def organisers(database: Database) -> set[int]:
    with database.transaction(write=False) as session:
        return set(session.scalars(select(MeetingOrganiser.account_id)))


def test_the_secretary_names_and_removes_an_organiser(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(page_of(town))
    assert "No organisers named" in page.text
    assert f'<option value="{town.account_ids["member2"]}">李娜 (M002)</option>' in page.text
    response = secretary.submit(
        page_of(town),
        f"{page_of(town)}/organisers",
        {"account_id": str(town.account_ids["member2"])},
    )
    assert response.status_code == 303
    assert organisers(database) == {town.account_ids["member2"]}
    page = secretary.client.get(response.headers["location"])
    assert "The organiser was added" in page.text
    assert f'<option value="{town.account_ids["member2"]}">' not in page.text
    refused = secretary.submit(
        page_of(town),
        f"{page_of(town)}/organisers",
        {"account_id": str(town.account_ids["member3"])},
    )
    assert refused.status_code == 422
    assert "Choose a member of this branch with an account." in refused.text
    refused = secretary.submit(page_of(town), f"{page_of(town)}/organisers", {"account_id": ""})
    assert refused.status_code == 422
    with database.transaction(write=False) as session:
        organiser_id = session.scalar(select(MeetingOrganiser.id))
    response = secretary.submit(
        page_of(town), f"{page_of(town)}/organisers/{organiser_id}/delete", {}
    )
    assert response.status_code == 303
    assert organisers(database) == set()
    missing = secretary.submit(
        page_of(town), f"{page_of(town)}/organisers/{organiser_id}/delete", {}
    )
    assert missing.status_code == 404


def test_the_page_fits_a_phone_and_speaks_chinese(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    browser: Browser = make_browser()
    browser.login("secretary")
    browser.submit(page_of(town), page_of(town), {"name": "一组"})
    page = browser.client.get(page_of(town))
    assert "党小组" in page.text
    assert "会议组织人" in page.text
    assert 'name="viewport"' in page.text
