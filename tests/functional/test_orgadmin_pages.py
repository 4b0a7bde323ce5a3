"""The office's people pages (branches, organisations, members, accounts) and a
branch's roster, through real HTTP on a real database: who may do what, forms that keep
the input and say what is wrong next to the field, and accounts that are disabled or
reset lose their sessions at once."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from service.persistence.db import Database
from service.persistence.models import Account, Branch, Member, Membership, Organisation, WebSession
from tests.conftest import PASSWORD, Browser, SmallTown

HOST = "testserver.local"
VALID_ID = "11010519491231002X"  # the textbook 身份证号 with a correct check character


def signed_in(make_browser: Any, username: str, password: str = PASSWORD) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username, password)
    return browser


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def field_error(page: str, name: str) -> str:
    match = re.search(
        rf'<p class="field-error" role="alert" id="{name}-error">(.*?)</p>', page, re.S
    )
    assert match, f"no error beside {name}"
    return html.unescape(match.group(1))


def input_value(page: str, name: str) -> str:
    match = re.search(rf'<input id="{name}" name="{name}"[^>]*value="([^"]*)"', page)
    assert match, f"no input {name}"
    return html.unescape(match.group(1))


@pytest.fixture
def admin(town: SmallTown, make_browser: Any) -> Browser:
    return signed_in(make_browser, "admin")


def member_form(**overrides: str) -> dict[str, str]:
    fields = {
        "code": "M100",
        "name": "孙丽",
        "branch_id": "",
        "organisation_id": "",
        "status": "full",
        "joined_party_on": "2015-07-01",
        "id_number": VALID_ID,
        "phone": "13812345678",
        "left_on": "",
    }
    fields.update(overrides)
    return fields


# --- who may open the office pages ------------------------------------------------------

OFFICE_PAGES = (
    "/admin/branches",
    "/admin/branches/new",
    "/admin/organisations",
    "/admin/members",
    "/admin/members/new",
    "/admin/accounts",
    "/admin/accounts/new",
)


@pytest.mark.parametrize("username", ["member", "secretary", "instructor"])
def test_only_the_office_opens_the_people_pages(
    town: SmallTown, make_browser: Any, database: Database, username: str
) -> None:
    browser = signed_in(make_browser, username)
    for path in (*OFFICE_PAGES, f"/admin/members/{town.member_ids['member']}"):
        assert browser.client.get(path).status_code == 403, path
    # A valid CSRF token from another page does not open the doors either.
    created = browser.submit(
        "/boards", "/admin/members/new", member_form(branch_id=str(town.jinwan))
    )
    assert created.status_code == 403
    disabled = browser.submit(
        "/boards", f"/admin/accounts/{town.account_ids['member2']}/disable", {}
    )
    assert disabled.status_code == 403
    with database.transaction(write=False) as session:
        assert session.scalar(select(Member).where(Member.code == "M100")) is None
        assert session.get(Account, town.account_ids["member2"]).is_active  # type: ignore[union-attr]


def test_the_office_sees_every_people_page(admin: Browser) -> None:
    for path in OFFICE_PAGES:
        page = admin.client.get(path)
        assert page.status_code == 200, path
        assert 'name="viewport"' in page.text


def test_a_form_without_its_csrf_token_changes_nothing(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    response = admin.client.post(
        "/admin/members/new", data=member_form(branch_id=str(town.jinwan)), follow_redirects=False
    )
    assert response.status_code == 403
    assert "This form has expired" in response.text
    response = admin.client.post(
        f"/admin/accounts/{town.account_ids['member']}/disable", follow_redirects=False
    )
    assert response.status_code == 403
    with database.transaction(write=False) as session:
        assert session.scalar(select(Member).where(Member.code == "M100")) is None
        assert session.get(Account, town.account_ids["member"]).is_active  # type: ignore[union-attr]


# --- members ------------------------------------------------------------------------


def test_the_office_adds_a_member_and_finds_them(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    response = admin.submit(
        "/admin/members/new", "/admin/members/new", member_form(branch_id=str(town.jinwan))
    )
    assert response.status_code == 303
    page = admin.client.get(response.headers["location"])
    assert "The member was added." in page.text
    assert input_value(page.text, "id_number") == VALID_ID
    # Once added, the branch is no longer a field: a move is a transfer.
    assert 'name="branch_id"' not in page.text
    assert "/transfer" in page.text

    found = admin.client.get("/admin/members", params={"q": "孙丽"})
    assert "孙丽" in found.text and "M100" in found.text and "1 member" in text_of(found.text)
    by_branch = admin.client.get("/admin/members", params={"q": "宝元"})
    assert "孙丽" not in by_branch.text and "刘洋" in by_branch.text
    with database.transaction(write=False) as session:
        member = session.scalar(select(Member).where(Member.code == "M100"))
        assert member is not None and member.branch_id == town.jinwan
        stays = session.scalars(select(Membership).where(Membership.member_id == member.id)).all()
        assert [(s.branch_id, s.to_date) for s in stays] == [(town.jinwan, None)]


FULL_WIDTH = str.maketrans("0123456789XM", "０１２３４５６７８９ＸＭ")


def test_full_width_digits_are_one_id_number_phone_and_member_number(
    admin: Browser, town: SmallTown, make_browser: Any, database: Database
) -> None:
    """What a Chinese input method types (full-width digits, mixed in a phone number)
    is stored in ASCII, so the same ID number or member number typed the other way is
    refused beside its field, on the office's form and on a secretary's roster."""
    added = admin.submit(
        "/admin/members/new",
        "/admin/members/new",
        member_form(
            code="M100".translate(FULL_WIDTH),
            id_number=VALID_ID.translate(FULL_WIDTH),
            phone="13８0013８000",
            branch_id=str(town.jinwan),
        ),
    )
    assert added.status_code == 303
    with database.transaction(write=False) as session:
        member = session.scalar(select(Member).where(Member.name == "孙丽"))
        assert member is not None
        assert (member.code, member.id_number, member.phone) == ("M100", VALID_ID, "13800138000")
    again = admin.submit(
        "/admin/members/new",
        "/admin/members/new",
        member_form(code="M101", id_number=VALID_ID, branch_id=str(town.jinwan)),
    )
    assert again.status_code == 422
    assert field_error(again.text, "id_number") == "Another member already has this ID number."
    secretary = signed_in(make_browser, "secretary")
    roster_new = f"/branches/{town.jinwan}/roster/new"
    twin = secretary.submit(
        roster_new,
        roster_new,
        member_form(code="M100".translate(FULL_WIDTH), id_number=VALID_ID.translate(FULL_WIDTH)),
    )
    assert twin.status_code == 422
    assert field_error(twin.text, "code") == "Another member already has this member number."
    assert field_error(twin.text, "id_number") == "Another member already has this ID number."
    # Other scripts' digits are not digits of an ID number at all.
    arabic = secretary.submit(
        roster_new,
        roster_new,
        member_form(code="M102", id_number=VALID_ID[:3] + "٣" + VALID_ID[4:]),
    )
    assert arabic.status_code == 422
    assert "18 characters" in field_error(arabic.text, "id_number")
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 7


def test_member_errors_show_beside_their_fields_and_keep_the_input(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    wrong_check = VALID_ID[:-1] + "1"
    response = admin.submit(
        "/admin/members/new",
        "/admin/members/new",
        member_form(
            code="M001",  # 张伟's number
            branch_id=str(town.jinwan),
            id_number=wrong_check,
            phone="2381234567",
            joined_party_on="2015-13-01",
        ),
    )
    assert response.status_code == 422
    page = response.text
    assert "check character is wrong" in field_error(page, "id_number")
    assert "11 digits" in field_error(page, "phone")
    assert "2026-03-12" in field_error(page, "joined_party_on")
    assert input_value(page, "id_number") == wrong_check
    assert input_value(page, "phone") == "2381234567"
    assert input_value(page, "name") == "孙丽"

    # Fields that pass on their own are then checked against the town's records.
    again = admin.submit(
        "/admin/members/new",
        "/admin/members/new",
        member_form(code="M001", branch_id=str(town.jinwan)),
    )
    assert again.status_code == 422
    assert "Another member already has this member number." in field_error(again.text, "code")
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 6


def test_an_id_number_with_a_date_that_does_not_exist_is_refused(
    admin: Browser, town: SmallTown
) -> None:
    response = admin.submit(
        "/admin/members/new",
        "/admin/members/new",
        member_form(branch_id=str(town.jinwan), id_number="110105194902300018"),
    )
    assert response.status_code == 422
    assert "not a real date" in field_error(response.text, "id_number")


def test_a_member_who_left_stays_with_their_history(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    member_id = town.member_ids["member2"]
    edit = f"/admin/members/{member_id}"
    fields = member_form(code="M002", name="李娜", id_number="", phone="", left_on="2026-01-31")
    response = admin.submit(edit, edit, fields)
    assert response.status_code == 303
    assert "The member was saved." in admin.client.get(response.headers["location"]).text
    listing = text_of(admin.client.get("/admin/members", params={"q": "李娜"}).text)
    assert "李娜" in listing and "left" in listing
    with database.transaction(write=False) as session:
        member = session.get(Member, member_id)
        assert member is not None and not member.active and str(member.left_on) == "2026-01-31"
        assert member.branch_id == town.jinwan  # still on the 金湾 roster, never deleted

    # Leaving before joining the party is refused beside the field.
    wrong = admin.submit(edit, edit, {**fields, "left_on": "2000-01-01"})
    assert wrong.status_code == 422
    assert "before joining" in field_error(wrong.text, "left_on")


def test_a_member_works_only_in_an_organisation_of_their_branch(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    with database.transaction(write=False) as session:
        baoyuan_org = session.scalar(
            select(Organisation.id).where(Organisation.branch_id == town.baoyuan)
        )
    edit = f"/admin/members/{town.member_ids['member']}"
    response = admin.submit(
        edit,
        edit,
        member_form(code="M001", name="张伟", id_number="", organisation_id=str(baoyuan_org)),
    )
    assert response.status_code == 422
    assert "branch covers" in field_error(response.text, "organisation_id")


# --- branches and organisations ---------------------------------------------------------


def test_branches_list_with_members_and_organisations(admin: Browser, town: SmallTown) -> None:
    page = text_of(admin.client.get("/admin/branches").text)
    assert "金湾工业园区联合党支部 B001 joint 4 active members" in page
    assert "Covers: 飞鹰机械有限公司" in page
    # 金湾 is joint but covers one organisation: the office is told.
    assert "A joint branch should cover several organisations." in page


def test_the_office_creates_and_edits_a_branch(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    response = admin.submit(
        "/admin/branches/new",
        "/admin/branches/new",
        {"code": "B003", "name": "西山村两新组织联合党支部", "kind": "joint"},
    )
    assert response.status_code == 303
    assert "The branch was created." in admin.client.get(response.headers["location"]).text

    duplicate = admin.submit(
        "/admin/branches/new",
        "/admin/branches/new",
        {"code": "B001", "name": "", "kind": "triple"},
    )
    assert duplicate.status_code == 422
    assert "required" in field_error(duplicate.text, "name")
    assert "single or joint" in field_error(duplicate.text, "kind")
    assert input_value(duplicate.text, "code") == "B001"

    with database.transaction(write=False) as session:
        new_id = session.scalar(select(Branch.id).where(Branch.code == "B003"))
    taken = admin.submit(
        f"/admin/branches/{new_id}",
        f"/admin/branches/{new_id}",
        {"code": "B001", "name": "西山村两新组织联合党支部", "kind": "joint"},
    )
    assert taken.status_code == 422
    assert "Another branch already uses this." in field_error(taken.text, "code")


def test_a_single_branch_covers_exactly_one_organisation(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    # 宝元 is single and covers 宝元鞋厂: a second organisation cannot join it.
    fields = {
        "name": "宝元二厂",
        "kind": "enterprise",
        "branch_id": str(town.baoyuan),
        "business_status": "operating",
        "employee_count": "80",
        "owner_name": "陈总",
    }
    refused = admin.submit("/admin/organisations/new", "/admin/organisations/new", fields)
    assert refused.status_code == 422
    assert "single branch" in field_error(refused.text, "branch_id")
    assert input_value(refused.text, "employee_count") == "80"

    # Into the joint 金湾 branch it goes, with its 五清 fields.
    created = admin.submit(
        "/admin/organisations/new",
        "/admin/organisations/new",
        {**fields, "branch_id": str(town.jinwan)},
    )
    assert created.status_code == 303
    listing = text_of(admin.client.get("/admin/organisations", params={"q": "宝元二厂"}).text)
    for fact in ("宝元二厂", "operating", "Employees 80", "金湾工业园区联合党支部 (joint)", "陈总"):
        assert fact in listing

    # Now 金湾 covers two organisations: it can no longer be made single.
    edit = f"/admin/branches/{town.jinwan}"
    single = admin.submit(
        edit, edit, {"code": "B001", "name": "金湾工业园区联合党支部", "kind": "single"}
    )
    assert single.status_code == 422
    assert "covers 2 organisations" in field_error(single.text, "kind")
    with database.transaction(write=False) as session:
        assert session.get(Branch, town.jinwan).kind.value == "joint"  # type: ignore[union-attr]


def test_organisation_errors_beside_fields(admin: Browser, town: SmallTown) -> None:
    response = admin.submit(
        "/admin/organisations/new",
        "/admin/organisations/new",
        {
            "name": "宝元鞋厂",
            "kind": "enterprise",
            "branch_id": str(town.jinwan),
            "business_status": "operating",
            "employee_count": "many",
            "owner_name": "",
        },
    )
    assert response.status_code == 422
    assert "number of employees" in field_error(response.text, "employee_count")
    assert "required" in field_error(response.text, "owner_name")


# --- accounts -----------------------------------------------------------------------------


def test_a_new_account_must_change_its_initial_password(
    admin: Browser, town: SmallTown, make_browser: Any, database: Database
) -> None:
    form = admin.client.get("/admin/accounts/new").text
    suggested = input_value(form, "password")
    assert len(suggested) >= 10
    response = admin.submit(
        "/admin/accounts/new",
        "/admin/accounts/new",
        {
            "username": "elder",
            "display_name": "赵老",
            "member_code": "M006",
            "password": "initial-password-1",
            "instructor": [str(town.jinwan), str(town.baoyuan)],
        },
    )
    assert response.status_code == 303
    page = text_of(admin.client.get(response.headers["location"]).text)
    assert "The account was created." in page
    assert "initial password: must be changed at next sign-in" in page

    newcomer = signed_in(make_browser, "elder", "initial-password-1")
    entries = newcomer.client.get("/review", follow_redirects=True)
    assert str(entries.url).startswith(f"http://{HOST}/account/password")
    assert "Choose your own password now" in entries.text
    changed = newcomer.submit(
        str(entries.url),
        "/account/password",
        {
            "current": "initial-password-1",
            "new": "my own long password",
            "confirmation": "my own long password",
            "next": "/review",
        },
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/review"
    # An instructor of both branches now: both review queues open.
    assert newcomer.client.get("/review").status_code == 200
    assert newcomer.client.get(f"/branches/{town.baoyuan}/roster").status_code == 200
    with database.transaction(write=False) as session:
        account = session.scalar(select(Account).where(Account.username == "elder"))
        assert account is not None and not account.must_change_password


def test_account_errors_beside_fields(admin: Browser, town: SmallTown) -> None:
    response = admin.submit(
        "/admin/accounts/new",
        "/admin/accounts/new",
        {"username": "member", "display_name": "x", "member_code": "M001", "password": "p"},
    )
    assert response.status_code == 422
    assert "at least 10" in field_error(response.text, "password")
    again = admin.submit(
        "/admin/accounts/new",
        "/admin/accounts/new",
        {
            "username": "member",
            "display_name": "x",
            "member_code": "M001",
            "password": "long enough password",
        },
    )
    assert again.status_code == 422
    assert "taken" in field_error(again.text, "username")
    assert "already has an account" in field_error(again.text, "member_code")


def test_disabling_an_account_signs_it_out_at_once(
    admin: Browser, town: SmallTown, make_browser: Any, database: Database
) -> None:
    member = signed_in(make_browser, "member")
    assert member.client.get("/entries").status_code == 200
    page = f"/admin/accounts/{town.account_ids['member']}"
    response = admin.submit(page, f"{page}/disable", {})
    assert response.status_code == 303
    assert "signed out everywhere" in admin.client.get(response.headers["location"]).text

    # The member's very next request finds them signed out, and they cannot sign in.
    after = member.client.get("/entries", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    refused = member.submit("/login", "/login", {"username": "member", "password": PASSWORD})
    assert refused.status_code == 400
    with database.transaction(write=False) as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None and not account.is_active and account.disabled_at is not None
        assert session.get(Member, town.member_ids["member"]) is not None  # history stays
        sessions = session.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.account_id == account.id)
        )
        assert sessions == 0
    assert "disabled" in text_of(admin.client.get("/admin/accounts", params={"q": "member"}).text)

    enabled = admin.submit(page, f"{page}/enable", {})
    assert enabled.status_code == 303
    member.login("member")
    assert member.client.get("/entries").status_code == 200


def test_the_office_cannot_lock_itself_out(admin: Browser, town: SmallTown) -> None:
    page = f"/admin/accounts/{town.account_ids['admin']}"
    assert "This is your own account" in admin.client.get(page).text
    refused = admin.submit(page, f"{page}/disable", {})
    assert refused.status_code == 409
    assert "You cannot disable your own account." in refused.text
    roles = admin.submit(page, f"{page}/roles", {})
    assert roles.status_code == 409
    assert admin.client.get("/admin/accounts").status_code == 200


def test_a_reset_ends_every_session_and_forces_a_new_password(
    admin: Browser, town: SmallTown, make_browser: Any
) -> None:
    phone = signed_in(make_browser, "secretary")
    laptop = signed_in(make_browser, "secretary")
    page = f"/admin/accounts/{town.account_ids['secretary']}"
    response = admin.submit(page, f"{page}/reset-password", {"password": "fresh-initial-pw"})
    assert response.status_code == 303
    assert (
        "every session of the account ended" in admin.client.get(response.headers["location"]).text
    )
    for browser in (phone, laptop):
        gone = browser.client.get("/review", follow_redirects=False)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")

    # The old password no longer works; the new initial one leads to the change page.
    old = phone.submit("/login", "/login", {"username": "secretary", "password": PASSWORD})
    assert old.status_code == 400
    signed = phone.login("secretary", "fresh-initial-pw")
    assert signed.headers["location"].startswith("/account/password")
    assert phone.client.get("/review", follow_redirects=True).url.path == "/account/password"


def test_roles_give_an_instructor_several_branches(
    admin: Browser, town: SmallTown, make_browser: Any
) -> None:
    page = f"/admin/accounts/{town.account_ids['instructor']}"
    response = admin.submit(
        page, f"{page}/roles", {"instructor": [str(town.jinwan), str(town.baoyuan)]}
    )
    assert response.status_code == 303
    listing = text_of(admin.client.get("/admin/accounts", params={"q": "instructor"}).text)
    assert "instructor (金湾工业园区联合党支部) · instructor (宝元鞋厂党支部)" in listing
    instructor = signed_in(make_browser, "instructor")
    assert instructor.client.get(f"/branches/{town.baoyuan}/roster").status_code == 200


# --- a branch's roster --------------------------------------------------------------------


def test_the_secretary_keeps_the_roster_of_their_branch(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    secretary = signed_in(make_browser, "secretary")
    roster = secretary.client.get(f"/branches/{town.jinwan}/roster")
    assert roster.status_code == 200
    names = text_of(roster.text)
    assert "张伟" in names and "赵老" in names and "刘洋" not in names
    assert "4 members" in names  # 金湾's four of the town's six

    edit = f"/branches/{town.jinwan}/roster/{town.member_ids['member']}"
    saved = secretary.submit(
        edit,
        edit,
        member_form(
            code="M001",
            name="张伟",
            id_number=VALID_ID,
            phone="139 0000 1111",
            branch_id=str(town.baoyuan),
        ),
    )
    assert saved.status_code == 303
    assert "The member was saved." in secretary.client.get(saved.headers["location"]).text
    added = secretary.submit(
        f"/branches/{town.jinwan}/roster/new",
        f"/branches/{town.jinwan}/roster/new",
        member_form(code="M200", name="周新", id_number="", branch_id=str(town.baoyuan)),
    )
    assert added.status_code == 303
    assert "周新" in secretary.client.get(f"/branches/{town.jinwan}/roster").text
    with database.transaction(write=False) as session:
        zhang = session.get(Member, town.member_ids["member"])
        assert zhang is not None
        # The branch field of the form is ignored: a move is a transfer.
        assert (zhang.branch_id, zhang.phone, zhang.id_number) == (
            town.jinwan,
            "13900001111",
            VALID_ID,
        )
        zhou = session.scalar(select(Member).where(Member.code == "M200"))
        assert zhou is not None and zhou.branch_id == town.jinwan


def test_another_branch_secretary_is_refused(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    secretary2 = signed_in(make_browser, "secretary2")
    assert secretary2.client.get(f"/branches/{town.baoyuan}/roster").status_code == 200
    assert secretary2.client.get(f"/branches/{town.jinwan}/roster").status_code == 403
    zhang = town.member_ids["member"]
    assert secretary2.client.get(f"/branches/{town.jinwan}/roster/{zhang}").status_code == 403
    # Neither through 金湾's roster nor by smuggling the member into 宝元's.
    for path in (
        f"/branches/{town.jinwan}/roster/{zhang}",
        f"/branches/{town.baoyuan}/roster/{zhang}",
    ):
        response = secretary2.submit(
            f"/branches/{town.baoyuan}/roster",
            path,
            member_form(code="M001", name="改名", id_number=""),
        )
        assert response.status_code == 403, path
    added = secretary2.submit(
        f"/branches/{town.baoyuan}/roster",
        f"/branches/{town.jinwan}/roster/new",
        member_form(code="M300", id_number=""),
    )
    assert added.status_code == 403
    with database.transaction(write=False) as session:
        member = session.get(Member, zhang)
        assert member is not None and member.name == "张伟"
        assert session.scalar(select(Member).where(Member.code == "M300")) is None


def test_a_secretary_cannot_change_their_own_record(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    """Marking oneself exempt takes one off the rankings: refused like self-approval,
    in the service (so the admin pages and the CLI refuse it too), and the page offers
    no form for it."""
    secretary = signed_in(make_browser, "secretary")
    own = f"/branches/{town.jinwan}/roster/{town.member_ids['secretary']}"
    page = secretary.client.get(own)
    assert page.status_code == 200
    assert "<fieldset disabled" in page.text and 'type="submit" class="primary"' not in page.text
    assert "Nobody changes their own roster record" in text_of(page.text)
    refused = secretary.submit(
        f"/branches/{town.jinwan}/roster",
        own,
        member_form(code="M003", name="王书记", status="exempt", id_number=""),
    )
    assert refused.status_code == 403
    assert "Nobody changes their own roster record" in text_of(refused.text)
    with database.transaction(write=False) as session:
        me = session.get(Member, town.member_ids["secretary"])
        assert me is not None and me.status.value == "full"
    # Everyone else on the roster is still theirs to keep.
    other = f"/branches/{town.jinwan}/roster/{town.member_ids['member2']}"
    saved = secretary.submit(
        other, other, member_form(code="M002", name="李娜", status="exempt", id_number="")
    )
    assert saved.status_code == 303


def test_nobody_edits_or_transfers_their_own_record_through_the_service(
    town: SmallTown, database: Database
) -> None:
    from datetime import date

    from service.kernel.errors import PermissionDenied
    from service.people.members import MemberInput, update_member
    from service.people.transfers import transfer_member
    from service.persistence.models import MemberStatus
    from service.persistence.types import utcnow

    # An office account that is also a member (the town's admin is not: make it 赵老's).
    with database.transaction() as session:
        admin = session.get(Account, town.account_ids["admin"])
        assert admin is not None
        admin.member_id = town.member_ids["elder"]
    office = town.principal(database, "admin")
    data = MemberInput(
        code="M006",
        name="赵老",
        branch_id=None,
        organisation_id=None,
        status=MemberStatus.FULL,
        joined_party_on=date(2010, 7, 1),
        id_number=None,
        phone=None,
        left_on=None,
    )
    with database.transaction() as session, pytest.raises(PermissionDenied):
        update_member(session, office, town.member_ids["elder"], data)
    with database.transaction() as session, pytest.raises(PermissionDenied):
        transfer_member(
            session,
            office,
            town.member_ids["elder"],
            town.baoyuan,
            date.today(),
            "",
            today=date.today(),
            now=utcnow(),
        )
    with database.transaction(write=False) as session:
        member = session.get(Member, town.member_ids["elder"])
        assert member is not None
        assert (member.status, member.branch_id) == (MemberStatus.EXEMPT, town.jinwan)


def test_the_instructor_reads_the_roster_but_cannot_edit(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    instructor = signed_in(make_browser, "instructor")
    roster = instructor.client.get(f"/branches/{town.jinwan}/roster")
    assert roster.status_code == 200
    assert "You can read this roster; its secretary keeps it." in roster.text
    assert "/roster/new" not in roster.text
    member_page = instructor.client.get(
        f"/branches/{town.jinwan}/roster/{town.member_ids['member']}"
    )
    assert member_page.status_code == 200
    assert (
        "<fieldset disabled" in member_page.text
        and 'type="submit" class="primary"' not in member_page.text
    )
    edit = f"/branches/{town.jinwan}/roster/{town.member_ids['member']}"
    refused = instructor.submit(
        f"/branches/{town.jinwan}/roster", edit, member_form(code="M001", name="改名", id_number="")
    )
    assert refused.status_code == 403
    assert instructor.client.get(f"/branches/{town.jinwan}/roster/new").status_code == 403
    assert instructor.client.get(f"/branches/{town.baoyuan}/roster").status_code == 403
    with database.transaction(write=False) as session:
        member = session.get(Member, town.member_ids["member"])
        assert member is not None and member.name == "张伟"


def test_members_have_no_roster(town: SmallTown, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    assert member.client.get(f"/branches/{town.jinwan}/roster").status_code == 403
