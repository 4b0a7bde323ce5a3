"""Who may do what, over real HTTP with CSRF: every role against every object route.

One row per route: the path (with placeholders for the objects of the small town built
below) and the status each role gets. ``allow(...)`` names the roles that succeed; every
other signed-in role gets 403 and the anonymous visitor is sent to sign in (303; 401
under /api). GET rows run together per role; each POST row runs on its own fresh town,
since a success changes what the next role would find.

A route added later is one line in ``GETS`` or ``POSTS``.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.assessment.rating import open_round, round_policy
from service.assessment.rating_sheet import SelfScore, self_assess
from service.entries.entry import EntryInput, submit_entry
from service.entries.evidence import PhotoStore, PhotoUpload
from service.entries.review import approve_entry
from service.kernel.periods import period_of, shift_period, town_today
from service.notify.account_settings import settings_for
from service.persistence.db import Database
from service.persistence.meetings import MeetingOrganiser, PartyGroup
from service.persistence.models import Account, EntryPhoto, Organisation, PublicationKind
from service.persistence.types import utcnow
from service.publication.objections import LineRef, raise_objection
from service.publication.publish import publish_month
from service.publication.results import ResultLine, publish_results
from service.scoring.engine import MANUAL_RULE_ID
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown, password_hash
from tests.functional.appraisal_world import add_appraisals
from tests.functional.meeting_world import add_meetings, meeting_form
from tests.functional.notify_world import add_notifications
from tests.functional.warning_world import add_warning_cases
from tests.integration.test_evidence import jpeg_bytes

ANONYMOUS = "anonymous"
ROLES = (ANONYMOUS, "member", "secretary", "secretary2", "instructor", "admin")
SIGNED_IN = ROLES[1:]
MEMBERS = ("member", "secretary", "secretary2")  # accounts with a member record
REVIEWERS_OF_JINWAN = ("secretary", "instructor", "admin")
REVIEWERS_OF_BAOYUAN = ("secretary2", "admin")
ORGANISERS = ("secretary", "secretary2", "admin")  # of meetings, each of their branch
SEE_JINWAN_MEETING = ("member", "secretary", "instructor", "admin")  # expected or overseeing
OVERSEERS = ("secretary", "secretary2", "instructor", "admin")  # of some branch
HOST = "testserver.local"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


THIS_MONTH = period_of(today())
LAST_MONTH = shift_period(THIS_MONTH, -1)


def allow(
    *roles: str, ok: int = 200, denied: int = 403, anonymous: int = 303, **others: int
) -> dict[str, int]:
    """The status of each role: ``ok`` for ``roles``, ``denied`` for the other signed-in
    roles, ``anonymous`` for a visitor; ``others`` names exceptions (role=status)."""
    expect = {role: (ok if role in roles else denied) for role in SIGNED_IN}
    expect[ANONYMOUS] = anonymous
    expect.update(others)
    return expect


def api(*roles: str) -> dict[str, int]:
    return allow(*roles, anonymous=401)


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # str.format placeholders: the ids of World.ids
    expect: dict[str, int]
    form: dict[str, str] = field(default_factory=dict)
    upload: bytes | None = None  # sent as the multipart file field "roster"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


EVERYONE = allow(*SIGNED_IN)
OFFICE = allow("admin")
NOBODY = allow()  # every signed-in role refused
ANYONE = allow(*SIGNED_IN, anonymous=200)  # no sign-in: a token in the address decides
ANYONE_303 = allow(*SIGNED_IN, ok=303, anonymous=303)
# 金湾's meetings: its secretary and the office; a member expected or the instructor
# sees the meeting but does not run it; 宝元's secretary is told it does not exist.
ORGANISE_JINWAN = allow("secretary", "admin", secretary2=404)

GETS: tuple[Case, ...] = (
    # entries and the review queue
    Case("GET", "/entries", allow(*MEMBERS)),
    Case("GET", "/entries/new", allow(*MEMBERS)),
    Case("GET", "/review", allow("secretary", "secretary2", "instructor", "admin")),
    Case(
        "GET",
        "/review?rule=volunteer&from={today}&size=50&page=2",
        allow("secretary", "secretary2", "instructor", "admin"),
    ),
    # the bulk approval's confirmation: the entries' reviewers, never one's own entry
    Case("GET", "/review/bulk?entry={pending_member}", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/review/bulk?entry={pending_member3}", allow(*REVIEWERS_OF_BAOYUAN)),
    Case("GET", "/review/bulk?entry={pending_secretary}", allow("instructor", "admin")),
    Case(
        "GET",
        "/review/bulk?entry={nobody}",
        allow("secretary", "secretary2", "instructor", "admin", ok=404),
    ),
    # the front page: a block for each hat the person wears
    Case("GET", "/", EVERYONE),
    # photo evidence: the entry's member, the reviewers of its branch, the office; a photo
    # through another entry, or none at all, is not found
    Case(
        "GET",
        "/entries/{photo_entry_member}/photos/{photo_member}",
        allow("member", *REVIEWERS_OF_JINWAN),
    ),
    Case(
        "GET",
        "/entries/{photo_entry_member}/photos/{photo_member}?thumb=true",
        allow("member", *REVIEWERS_OF_JINWAN),
    ),
    Case(
        "GET", "/entries/{photo_entry_member3}/photos/{photo_member3}", allow(*REVIEWERS_OF_BAOYUAN)
    ),
    Case(
        "GET",
        "/entries/{photo_entry_member}/photos/{photo_member3}",
        allow("member", *REVIEWERS_OF_JINWAN, ok=404),
    ),
    Case("GET", "/entries/{nobody}/photos/{nobody}", allow(*SIGNED_IN, ok=404)),
    # member points: the member, the reviewers of the member's branch, the office
    Case("GET", "/me/points", allow(*MEMBERS)),
    Case("GET", "/members/{member}/points", allow("member", *REVIEWERS_OF_JINWAN)),
    Case("GET", "/members/{member2}/points", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/members/{secretary}/points", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/members/{member3}/points", allow(*REVIEWERS_OF_BAOYUAN)),
    Case("GET", "/members/{nobody}/points", allow(ok=404, denied=404)),
    # branch pages and adjustments
    Case("GET", "/branches", allow("secretary", "secretary2", "instructor", "admin")),
    Case("GET", "/branches/{jinwan}", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/branches/{baoyuan}", allow(*REVIEWERS_OF_BAOYUAN)),
    Case("GET", "/branches/{jinwan}/adjustments/new", allow("secretary", "admin")),
    Case("GET", "/branches/{baoyuan}/adjustments/new", allow("secretary2", "admin")),
    # members' accounts in bulk: the branch's secretary or the office; the town, the office
    Case("GET", "/account-sheets/new?branch={jinwan}", allow("secretary", "admin")),
    Case("GET", "/account-sheets/new?branch={baoyuan}", allow("secretary2", "admin")),
    Case("GET", "/account-sheets/new?branch=all", OFFICE),
    # public boards, their exports and achievements: every signed-in person
    Case("GET", "/boards", EVERYONE),
    Case("GET", "/boards/{this_month}", EVERYONE),
    Case("GET", "/boards/{this_month}/exempt", EVERYONE),
    Case("GET", "/boards/{this_month}/branches", EVERYONE),
    Case("GET", "/boards/{this_month}/branches/{baoyuan}", EVERYONE),
    Case("GET", "/boards/{last_month}/print", EVERYONE),
    Case("GET", "/boards/{this_month}/members.csv", EVERYONE),
    Case("GET", "/boards/{this_month}/members.xlsx", EVERYONE),
    Case("GET", "/boards/{this_month}/branches.csv", EVERYONE),
    Case("GET", "/boards/{last_month}/branches.xlsx", EVERYONE),
    Case("GET", "/boards/{this_month}/branches/{baoyuan}/members.csv", EVERYONE),
    Case("GET", "/boards/{last_month}/branches/{jinwan}/members.xlsx", EVERYONE),
    Case("GET", "/achievements/{baoyuan}", EVERYONE),
    # published results lists: every signed-in person, as the boards
    Case("GET", "/results", EVERYONE),
    Case("GET", "/results/branch_stars/{stars_year}", EVERYONE),
    Case("GET", "/results/branch_stars/{stars_year}/print", EVERYONE),
    Case("GET", "/results/branch_stars/{stars_year}/list.csv", EVERYONE),
    Case("GET", "/results/branch_stars/{stars_year}/list.xlsx", EVERYONE),
    Case("GET", "/results/red_list/{stars_year}", allow(*SIGNED_IN, ok=404)),
    # compliance (组织生活): the office, instructors and secretaries (their branches)
    Case("GET", "/compliance", allow("secretary", "secretary2", "instructor", "admin")),
    Case("GET", "/compliance.csv", allow("secretary", "secretary2", "instructor", "admin")),
    Case(
        "GET", "/compliance.xlsx?behind=1", allow("secretary", "secretary2", "instructor", "admin")
    ),
    # objections: members raise them about any line of the public board
    Case("GET", "/objections", allow(*MEMBERS)),
    Case("GET", "/objections/new?period={last_month}&branch={baoyuan}", allow(*MEMBERS)),
    # the office
    Case("GET", "/admin", OFFICE),
    Case("GET", "/admin/ledger", OFFICE),
    Case("GET", "/admin/rules", OFFICE),
    Case("GET", "/admin/rules/versions/2026.1/toml", OFFICE),
    Case("GET", "/admin/publication", OFFICE),
    Case("GET", "/admin/publication/{last_month}", OFFICE),
    # the confirmation page before publishing (last month is published: it says so)
    Case("GET", "/admin/publication/{last_month}/publish", OFFICE),
    Case("GET", "/admin/audit", OFFICE),
    Case("GET", "/admin/audit?branch=B002&kind=entry", OFFICE),
    Case("GET", "/admin/audit.csv", OFFICE),
    # the office's people pages: branches, organisations, members, accounts
    Case("GET", "/admin/branches", OFFICE),
    Case("GET", "/admin/branches?q=宝元", OFFICE),
    Case("GET", "/admin/branches/new", OFFICE),
    Case("GET", "/admin/branches/{jinwan}", OFFICE),
    Case("GET", "/admin/branches/{nobody}", allow("admin", admin=404)),
    Case("GET", "/admin/organisations", OFFICE),
    Case("GET", "/admin/organisations/new?branch={baoyuan}", OFFICE),
    Case("GET", "/admin/organisations/{org_jinwan}", OFFICE),
    Case("GET", "/admin/organisations/{nobody}", allow("admin", admin=404)),
    Case("GET", "/admin/members", OFFICE),
    Case("GET", "/admin/members?q=宝元", OFFICE),
    Case("GET", "/admin/members/new", OFFICE),
    Case("GET", "/admin/members/{member3}", OFFICE),
    Case("GET", "/admin/members/{nobody}", allow("admin", admin=404)),
    Case("GET", "/admin/members/{member}/transfer", OFFICE),
    Case("GET", "/admin/members/{nobody}/transfer", allow("admin", admin=404)),
    Case("GET", "/admin/accounts", OFFICE),
    Case("GET", "/admin/accounts/new", OFFICE),
    Case("GET", "/admin/accounts/{account_member2}", OFFICE),
    Case("GET", "/admin/accounts/{nobody}", allow("admin", admin=404)),
    # the roster import and its templates
    Case("GET", "/admin/import", OFFICE),
    Case("GET", "/admin/import/template.csv", OFFICE),
    Case("GET", "/admin/import/template.xlsx", OFFICE),
    # a branch's roster: its secretary and instructors read it, the office too; only the
    # secretary and the office open the form that adds a member
    Case("GET", "/branches/{jinwan}/roster", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/branches/{jinwan}/roster?q=张", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/branches/{baoyuan}/roster", allow(*REVIEWERS_OF_BAOYUAN)),
    Case("GET", "/branches/{jinwan}/roster/new", allow("secretary", "admin")),
    Case("GET", "/branches/{baoyuan}/roster/new", allow("secretary2", "admin")),
    Case("GET", "/branches/{jinwan}/roster/{member}", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/branches/{jinwan}/roster/{elder}", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/branches/{baoyuan}/roster/{member3}", allow(*REVIEWERS_OF_BAOYUAN)),
    # a member reached through another branch's roster: not on it, refused even to the
    # office (which has the member under /admin/members)
    Case("GET", "/branches/{jinwan}/roster/{member3}", NOBODY),
    Case("GET", "/branches/{baoyuan}/roster/{member}", NOBODY),
    # no such member: 404 only for those who may read the roster; the others are
    # refused first and learn nothing, not even whether the id exists
    Case(
        "GET",
        "/branches/{jinwan}/roster/{nobody}",
        allow(*REVIEWERS_OF_JINWAN, ok=404),
    ),
    Case(
        "GET",
        "/branches/{nobody}/roster",
        allow("secretary", "secretary2", "instructor", "admin", ok=404),
    ),
    # the API: 401 instead of a redirect to sign in. Reads take the session cookie (as
    # here) or an API token (tests/functional/test_api_tokens.py sweeps those).
    Case("GET", "/api/me", api(*SIGNED_IN)),
    Case("GET", "/api/boards/{this_month}/members", api(*SIGNED_IN)),
    Case("GET", "/api/boards/{this_month}/branches", api(*SIGNED_IN)),
    Case("GET", "/api/results", api(*SIGNED_IN)),
    Case("GET", "/api/results/branch_stars/{stars_year}", api(*SIGNED_IN)),
    Case("GET", "/api/results/excellent/{stars_year}", allow(*SIGNED_IN, ok=404, anonymous=401)),
    Case("GET", "/api/entries", api(*MEMBERS)),
    Case("GET", "/api/entries/{pending_member}", api("member", *REVIEWERS_OF_JINWAN)),
    Case("GET", "/api/entries/{pending_member3}", api(*REVIEWERS_OF_BAOYUAN)),
    Case("GET", "/api/entries/{nobody}", allow(*SIGNED_IN, ok=404, anonymous=401)),
    Case("GET", "/api/reviews", api("secretary", "secretary2", "instructor", "admin")),
    Case("GET", "/api/members", api("secretary", "secretary2", "instructor", "admin")),
    Case("GET", "/api/members/{member}", api("member", *REVIEWERS_OF_JINWAN)),
    Case("GET", "/api/members/{member3}", api(*REVIEWERS_OF_BAOYUAN)),
    Case("GET", "/api/members/{nobody}", allow(ok=404, denied=404, anonymous=401)),
    # meetings: those expected, the branch's secretary, instructors and organisers, the
    # office; anyone else is told the meeting does not exist (404). Organisers schedule.
    # bands (红黄榜) and warning cases (预警): the office bands; a branch's reviewers see its
    # lines and cases; a case is the member's too; to anyone else it does not exist
    Case("GET", "/bands", OFFICE),
    Case("GET", "/bands/{band_period}", allow(*REVIEWERS_OF_JINWAN, "secretary2")),
    Case("GET", "/bands/2026-Q9", allow(*REVIEWERS_OF_JINWAN, "secretary2", ok=404)),
    Case("GET", "/warnings", EVERYONE),
    Case("GET", "/warnings?show=overdue&page=2", EVERYONE),
    Case("GET", "/warnings/{case_member}", allow("member", *REVIEWERS_OF_JINWAN, denied=404)),
    Case("GET", "/warnings/{case_member3}", allow("secretary2", "admin", denied=404)),
    Case("GET", "/warnings/{nobody}", allow(*SIGNED_IN, ok=404)),
    # telling people (issue 19): one's own inbox and settings; a branch's group robots
    # (its secretary, the office; instructors neither see nor change them); the town's
    # robots and the outbox (the office)
    Case("GET", "/inbox", EVERYONE),
    Case("GET", "/inbox?unread=1&page=2", EVERYONE),
    Case("GET", "/me/notifications", EVERYONE),
    Case("GET", "/branches/{jinwan}/robots", allow("secretary", "admin")),
    Case("GET", "/branches/{baoyuan}/robots", allow("secretary2", "admin")),
    Case("GET", "/branches/{nobody}/robots", allow(*SIGNED_IN, ok=404)),
    Case("GET", "/office/robots", OFFICE),
    Case("GET", "/outbox", OFFICE),
    Case("GET", "/outbox?page=2", OFFICE),
    Case("GET", "/meetings", EVERYONE),
    Case("GET", "/meetings?when=past&branch={jinwan}", EVERYONE),
    Case("GET", "/meetings/new", allow(*ORGANISERS)),
    Case("GET", "/meetings/new?branch={baoyuan}", allow(*ORGANISERS)),
    Case("GET", "/meetings/{meeting_jinwan}", allow(*SEE_JINWAN_MEETING, secretary2=404)),
    Case("GET", "/meetings/{meeting_baoyuan}", allow("secretary2", "admin", denied=404)),
    Case("GET", "/meetings/{nobody}", allow(*SIGNED_IN, ok=404)),
    Case("GET", "/meetings/{meeting_jinwan}/edit", ORGANISE_JINWAN),
    Case("GET", "/meetings/{meeting_ended}/close", ORGANISE_JINWAN),
    Case("GET", "/meetings/{meeting_closed}/makeup", ORGANISE_JINWAN),
    # the minutes' photos: whoever sees the meeting; to anyone else it does not exist
    Case(
        "GET",
        "/meetings/{meeting_closed}/photos/{minutes_photo}",
        allow(*SEE_JINWAN_MEETING, secretary2=404),
    ),
    Case(
        "GET",
        "/meetings/{meeting_closed}/photos/{minutes_photo}?thumb=true",
        allow(*SEE_JINWAN_MEETING, secretary2=404),
    ),
    Case(
        "GET",
        "/meetings/{meeting_closed_baoyuan}/photos/{minutes_photo_baoyuan}",
        allow("secretary2", "admin", denied=404),
    ),
    # a photo through another meeting of the same branch
    Case(
        "GET",
        "/meetings/{meeting_ended}/photos/{minutes_photo}",
        allow(*SIGNED_IN, ok=404),
    ),
    Case("GET", "/meetings/{nobody}/photos/{nobody}", allow(*SIGNED_IN, ok=404)),
    # check-in: the screen with the code and the attendance list are the organisers';
    # the member's check-in page is for the members expected (an organiser without a
    # member record, the instructor and strangers do not find it)
    Case("GET", "/meetings/{meeting_jinwan}/checkin/screen", ORGANISE_JINWAN),
    Case("GET", "/meetings/{meeting_jinwan}/checkin", allow("member", "secretary", denied=404)),
    Case("GET", "/meetings/{meeting_ended}/attendance", ORGANISE_JINWAN),
    Case("GET", "/api/meetings", api(*SIGNED_IN)),
    Case(
        "GET",
        "/api/meetings/{meeting_jinwan}/attendance",
        allow(*SEE_JINWAN_MEETING, anonymous=401, secretary2=404),
    ),
    # party groups and organisers: the branch's reviewers read, its secretary keeps them;
    # the calendar link is anyone's own; the feed needs no sign-in, only its token
    Case("GET", "/branches/{jinwan}/groups", allow(*REVIEWERS_OF_JINWAN)),
    Case("GET", "/branches/{baoyuan}/groups", allow(*REVIEWERS_OF_BAOYUAN)),
    Case(
        "GET",
        "/branches/{nobody}/groups",
        allow("secretary", "secretary2", "instructor", "admin", ok=404),
    ),
    Case("GET", "/account/calendar", EVERYONE),
    Case("GET", "/calendar/{nobody}.ics", allow(*SIGNED_IN, ok=404, anonymous=404)),
    # the annual appraisal: the list for anyone signed in (the branches they oversee);
    # a sheet and its print to the branch's reviewers, to anyone else it does not exist
    Case("GET", "/appraisals", EVERYONE),
    Case("GET", "/appraisals?year=2025&page=2", EVERYONE),
    Case("GET", "/appraisals/{appraisal_jinwan}", allow(*REVIEWERS_OF_JINWAN, denied=404)),
    Case("GET", "/appraisals/{appraisal_jinwan}/print", allow(*REVIEWERS_OF_JINWAN, denied=404)),
    Case("GET", "/appraisals/{appraisal_baoyuan}", allow(*REVIEWERS_OF_BAOYUAN, denied=404)),
    Case("GET", "/appraisals/{nobody}", allow(*SIGNED_IN, ok=404)),
    Case("GET", "/appraisals/{nobody}/print", allow(*SIGNED_IN, ok=404)),
    # branch ratings (星级支部): the office, instructors and secretaries; a branch's sheet
    # only its secretary, its instructor and the office (to anyone else it does not exist)
    Case("GET", "/ratings", allow(*OVERSEERS)),
    Case("GET", "/ratings/{rating_round}", allow(*OVERSEERS)),
    Case("GET", "/ratings/{rating_round}?status=submitted&page=2", allow(*OVERSEERS)),
    Case("GET", "/ratings/{nobody}", allow(*OVERSEERS, ok=404)),
    Case(
        "GET",
        "/ratings/{rating_round}/branches/{jinwan}",
        allow(*REVIEWERS_OF_JINWAN, secretary2=404),
    ),
    Case(
        "GET",
        "/ratings/{rating_round}/branches/{baoyuan}",
        allow(*REVIEWERS_OF_BAOYUAN, secretary=404, instructor=404),
    ),
    Case(
        "GET",
        "/ratings/{rating_round}/branches/{jinwan}/evidence/{rated_indicator}",
        allow(*REVIEWERS_OF_JINWAN, secretary2=404),
    ),
    Case(
        "GET",
        "/ratings/{rating_round}/branches/{jinwan}/evidence/{rated_indicator}?thumb=true",
        allow(*REVIEWERS_OF_JINWAN, secretary2=404),
    ),
    # the digest email's unsubscribe link: no sign-in, the token in the address is the
    # key; a token that is no link's is a 404 for everyone
    Case("GET", "/notify/unsubscribe/{unsubscribe_token}", ANYONE),
    Case("GET", "/notify/unsubscribe/{nobody}", allow(ok=404, denied=404, anonymous=404)),
    Case("GET", "/notify/unsubscribe/{unsubscribe_token}/one-click", ANYONE_303),
)

REASON = {"reason": "经支部核实"}
# Changes through the API take an API token only: the session cookie (with a valid CSRF
# token, as every row here sends) is refused with 401 for every role. Who may do what
# with a token is swept in tests/functional/test_api_tokens.py.
API_CHANGE = allow(ok=401, denied=401, anonymous=401)
ADJUSTMENT = {"rule_id": MANUAL_RULE_ID, "points": "-1.0", "reason": "无故缺席组织生活"}
OFFICE_ACTS = allow("admin", ok=303)
VALID_ID = "11010519491231002X"  # a 身份证号 with a correct check character


def member_form(**overrides: str) -> dict[str, str]:
    return {
        "code": "M100",
        "name": "孙丽",
        "branch_id": "",
        "organisation_id": "",
        "status": "full",
        "joined_party_on": "2015-07-01",
        "id_number": "",
        "phone": "13812345678",
        "left_on": "",
        **overrides,
    }


ZHANG = member_form(code="M001", name="张伟", joined_party_on="2010-07-01")
LIU = member_form(code="M004", name="刘洋", status="probationary", joined_party_on="2010-07-01")
ORGANISATION = {
    "name": "西山五金厂",
    "kind": "enterprise",
    "branch_id": "{jinwan}",
    "business_status": "operating",
    "employee_count": "30",
    "owner_name": "周总",
}
ROSTER_FILE = (
    "党员编号,姓名,身份证号,手机号,党支部编号,所在单位,党员类别,入党日期\r\n"
    f"N001,新党员,{VALID_ID},13800138000,B001,飞鹰机械有限公司,正式党员,2015-07-01\r\n"
).encode()

POSTS: tuple[Case, ...] = (
    # party groups and organisers: the branch's secretary or the office; a group through
    # another branch's address is not found
    Case(
        "POST", "/branches/{jinwan}/groups", allow("secretary", "admin", ok=303), {"name": "二组"}
    ),
    Case(
        "POST",
        "/branches/{jinwan}/groups/{group_jinwan}/rename",
        allow("secretary", "admin", ok=303),
        {"name": "一组"},
    ),
    Case(
        "POST",
        "/branches/{jinwan}/groups/{group_jinwan}/members",
        allow("secretary", "admin", ok=303),
        {"member_ids": "{member}"},
    ),
    Case(
        "POST",
        "/branches/{jinwan}/groups/{group_jinwan}/delete",
        allow("secretary", "admin", ok=303),
    ),
    Case(
        "POST",
        "/branches/{baoyuan}/groups/{group_jinwan}/delete",
        allow("secretary", "secretary2", "instructor", "admin", ok=404),
    ),
    Case(
        "POST",
        "/branches/{jinwan}/groups/organisers",
        allow("secretary", "admin", ok=303),
        {"account_id": "{account_member}"},
    ),
    Case(
        "POST",
        "/branches/{jinwan}/groups/organisers/{organiser_jinwan}/delete",
        allow("secretary", "admin", ok=303),
    ),
    Case("POST", "/account/calendar/new-link", allow(*SIGNED_IN, ok=303)),
    # entries: only their member withdraws one
    Case(
        "POST",
        "/entries/new",
        allow(*MEMBERS, ok=303),
        {
            "rule_id": "volunteer",
            "activity_date": "{today}",
            "quantity": "1",
            "description": "义务巡河",
        },
    ),
    Case("POST", "/entries/{pending_member}/withdraw", allow("member", ok=303)),
    # review decisions: a reviewer of the entry's branch, never on their own entry
    Case("POST", "/review/{pending_member}/approve", allow(*REVIEWERS_OF_JINWAN, ok=303)),
    Case("POST", "/review/{pending_secretary}/approve", allow("instructor", "admin", ok=303)),
    Case("POST", "/review/{pending_member3}/approve", allow(*REVIEWERS_OF_BAOYUAN, ok=303)),
    Case("POST", "/review/{pending_member3}/reject", allow(*REVIEWERS_OF_BAOYUAN, ok=303), REASON),
    Case(
        "POST",
        "/review/{nobody}/approve",
        allow("secretary", "secretary2", "instructor", "admin", ok=404),
    ),
    # approving in bulk: every entry must be the reviewer's to decide
    Case(
        "POST", "/review/bulk", allow(*REVIEWERS_OF_JINWAN, ok=303), {"entry": "{pending_member}"}
    ),
    Case(
        "POST", "/review/bulk", allow(*REVIEWERS_OF_BAOYUAN, ok=303), {"entry": "{pending_member3}"}
    ),
    Case(
        "POST",
        "/review/bulk",
        allow("instructor", "admin", ok=303),
        {"entry": "{pending_secretary}"},
    ),
    Case(
        "POST",
        "/review/bulk",
        allow("secretary", "secretary2", "instructor", "admin", ok=404),
        {"entry": "{nobody}"},
    ),
    # nothing selected: refused beside the list, after the guard
    Case("POST", "/review/bulk", allow("secretary", "secretary2", "instructor", "admin", ok=422)),
    # revoking an approval from a member's points page
    Case(
        "POST",
        "/members/{member}/points/entries/{approved_member}/revoke",
        allow(*REVIEWERS_OF_JINWAN, ok=303),
        REASON,
    ),
    Case(
        "POST",
        "/members/{member3}/points/entries/{approved_member3}/revoke",
        allow(*REVIEWERS_OF_BAOYUAN, ok=303),
        REASON,
    ),
    # suggestion steps on the branch page (instructors oversee and may mark them)
    Case(
        "POST",
        "/branches/{jinwan}/suggestions/{suggestion_jinwan}/adopted",
        allow(*REVIEWERS_OF_JINWAN, ok=303),
        {"day": "{today}"},
    ),
    Case(
        "POST",
        "/branches/{baoyuan}/suggestions/{suggestion_baoyuan}/adopted",
        allow(*REVIEWERS_OF_BAOYUAN, ok=303),
        {"day": "{today}"},
    ),
    # another branch's suggestion through a branch page: not one of that page's (404)
    Case(
        "POST",
        "/branches/{jinwan}/suggestions/{suggestion_baoyuan}/adopted",
        allow("secretary", "secretary2", "instructor", "admin", ok=404),
        {"day": "{today}"},
    ),
    # deductions and adjustments: the branch secretary or the office, not instructors
    Case(
        "POST",
        "/branches/{jinwan}/adjustments/new",
        allow("secretary", "admin", ok=303),
        {**ADJUSTMENT, "member_id": "{member}", "day": "{today}"},
    ),
    Case(
        "POST",
        "/branches/{baoyuan}/adjustments/new",
        allow("secretary2", "admin", ok=303),
        {**ADJUSTMENT, "member_id": "{member3}", "day": "{today}"},
    ),
    # members' accounts in bulk: the handout is the POST's own page (200)
    Case("POST", "/account-sheets/new", allow("secretary", "admin"), {"branch": "{jinwan}"}),
    Case("POST", "/account-sheets/new", allow("secretary2", "admin"), {"branch": "{baoyuan}"}),
    Case("POST", "/account-sheets/new", OFFICE, {"branch": "all"}),
    # a member of another branch through a branch page: refused as not of that branch
    Case(
        "POST",
        "/branches/{jinwan}/adjustments/new",
        allow("secretary", "admin", ok=422),
        {**ADJUSTMENT, "member_id": "{member3}", "day": "{today}"},
    ),
    # objections and their answers
    Case(
        "POST",
        "/objections/new",
        allow(*MEMBERS, ok=303),
        {"period": "{last_month}", "branch": "{baoyuan}", "text": "参与率与实际不符,请核实。"},
    ),
    Case(
        "POST",
        "/admin/publication/{last_month}/objections/{objection}/resolve",
        allow("admin", ok=303),
        {"resolution": "no_change", "answer": "经核实,公示无误。"},
    ),
    # the office's actions
    Case("POST", "/admin/publication/{last_month}/correct", allow("admin", ok=303), REASON),
    Case("POST", "/admin/ledger/verify", OFFICE),
    # the month holds a pending entry: refused with the branches named, but only after
    # the guard let the office in
    Case("POST", "/admin/publication/{this_month}/publish", allow("admin", ok=409)),
    Case("POST", "/admin/publication/{last_month}/correction", allow("admin", ok=409)),
    Case(
        "POST",
        "/admin/rules/preview",
        allow("admin", admin=422),
        {"candidate": "not a ruleset"},
    ),
    # no previewed text to adopt: refused beside the field, after the guard let the office in
    Case(
        "POST",
        "/admin/rules/adopt",
        allow("admin", admin=422),
        {"candidate_b64": "", "reason": "县委通知"},
    ),
    # the office's people pages: every change is the office's alone
    Case(
        "POST",
        "/admin/branches/new",
        OFFICE_ACTS,
        {"code": "B003", "name": "西山村两新组织联合党支部", "kind": "joint"},
    ),
    Case(
        "POST",
        "/admin/branches/{baoyuan}",
        OFFICE_ACTS,
        {"code": "B002", "name": "宝元鞋厂党支部", "kind": "single"},
    ),
    Case(
        "POST",
        "/admin/branches/{nobody}",
        allow("admin", admin=404),
        {"code": "B009", "name": "不存在", "kind": "single"},
    ),
    Case("POST", "/admin/organisations/new", OFFICE_ACTS, ORGANISATION),
    Case(
        "POST",
        "/admin/organisations/{org_baoyuan}",
        OFFICE_ACTS,
        {**ORGANISATION, "name": "宝元鞋厂", "branch_id": "{baoyuan}", "employee_count": "210"},
    ),
    Case("POST", "/admin/members/new", OFFICE_ACTS, member_form(branch_id="{jinwan}")),
    Case("POST", "/admin/members/{member3}", OFFICE_ACTS, LIU),
    Case("POST", "/admin/members/{nobody}", allow("admin", admin=404), LIU),
    # (赵老 has no points, so today is a valid effective date)
    Case(
        "POST",
        "/admin/members/{elder}/transfer",
        OFFICE_ACTS,
        {"to_branch_id": "{baoyuan}", "effective": "{today}", "note": "随企业搬迁"},
    ),
    Case(
        "POST",
        "/admin/accounts/new",
        OFFICE_ACTS,
        {
            "username": "newcomer",
            "display_name": "赵老",
            "member_code": "M006",
            "password": "initial-password-1",
        },
    ),
    Case("POST", "/admin/accounts/{account_member2}/roles", OFFICE_ACTS, {"secretary": "{jinwan}"}),
    Case(
        "POST",
        "/admin/accounts/{account_member2}/reset-password",
        OFFICE_ACTS,
        {"password": "fresh-initial-pw"},
    ),
    Case("POST", "/admin/accounts/{account_member2}/disable", OFFICE_ACTS),
    Case("POST", "/admin/accounts/{account_retired}/enable", OFFICE_ACTS),
    Case("POST", "/admin/accounts/{account_member2}/end-sessions", OFFICE_ACTS),
    # API tokens: the office issues one (the page shows it once: 200) and revokes it
    Case("POST", "/admin/accounts/{account_member2}/tokens", OFFICE, {"name": "区党建平台同步"}),
    Case(
        "POST",
        "/admin/accounts/{account_member2}/tokens/{nobody}/revoke",
        allow("admin", admin=404),
    ),
    # the roster import: the upload is a dry run (200 with its report); applying a file
    # that was never uploaded is refused (409), but only after the guard let the office in
    Case("POST", "/admin/import", OFFICE, upload=ROSTER_FILE),
    Case("POST", "/admin/import/apply", allow("admin", admin=409), {"digest": "0" * 64}),
    # a branch's roster: its secretary and the office edit it; instructors only read
    Case(
        "POST", "/branches/{jinwan}/roster/new", allow("secretary", "admin", ok=303), member_form()
    ),
    Case(
        "POST",
        "/branches/{baoyuan}/roster/new",
        allow("secretary2", "admin", ok=303),
        member_form(),
    ),
    Case("POST", "/branches/{jinwan}/roster/{member}", allow("secretary", "admin", ok=303), ZHANG),
    Case("POST", "/branches/{baoyuan}/roster/{member3}", allow("secretary2", "admin", ok=303), LIU),
    # a member of another branch through a roster URL: refused to everyone, the office too
    Case("POST", "/branches/{jinwan}/roster/{member3}", NOBODY, LIU),
    Case("POST", "/branches/{baoyuan}/roster/{member}", NOBODY, ZHANG),
    # no such member: 404 for those who edit the roster, 403 for the rest
    Case("POST", "/branches/{jinwan}/roster/{nobody}", allow("secretary", "admin", ok=404), ZHANG),
    # the API's changes: never through the session cookie
    Case(
        "POST",
        "/api/entries",
        API_CHANGE,
        {"rule_id": "volunteer", "activity_date": "{today}", "description": "义务巡河"},
    ),
    Case("POST", "/api/reviews/{pending_member}/approve", API_CHANGE),
    Case("POST", "/api/reviews/{pending_member}/reject", API_CHANGE, REASON),
    Case("POST", "/api/meetings", API_CHANGE, {"kind": "theme_day"}),
    Case(
        "POST", "/api/meetings/{meeting_jinwan}/attendance", API_CHANGE, {"member_id": "{member}"}
    ),
    # bands: the office runs a banding (once: a banded period is refused, 409) and
    # publishes a red list (the shipped rules publish none: 409 after the guard)
    Case("POST", "/bands", allow("admin", ok=303), {"period": "{free_period}"}),
    Case("POST", "/bands", allow("admin", ok=409), {"period": "{band_period}"}),
    Case("POST", "/bands/{band_period}/publish", allow("admin", ok=409)),
    # warning cases: the branch's secretary (or the office) records talks and closes; the
    # instructor reads only; the member responds; strangers are told nothing exists
    Case(
        "POST",
        "/warnings/{case_member}/talk",
        allow("secretary", "admin", ok=303, secretary2=404),
        {"talked_on": "{today}", "talked_by": "王书记", "actions": "按时参加组织生活"},
    ),
    Case(
        "POST",
        "/warnings/{case_member2}/close",
        allow("secretary", "admin", ok=303, member=404, secretary2=404),
        {"outcome": "improved", "outcome_note": "已改进"},
    ),
    Case(
        "POST",
        "/warnings/{case_member}/respond",
        allow("member", ok=303, secretary2=404),
        {"response": "我会按时参加"},
    ),
    # the inbox: one's own messages and one's branch's broadcasts; anyone else's are
    # not found
    Case("POST", "/inbox/{notification_member}/open", allow("member", ok=303, denied=404)),
    Case(
        "POST",
        "/inbox/{notification_jinwan}/open",
        allow("member", "secretary", ok=303, denied=404),
    ),
    Case("POST", "/inbox/read", allow(*SIGNED_IN, ok=303)),
    Case(
        "POST",
        "/me/notifications",
        allow(*SIGNED_IN, ok=303),
        {"email": "", "locale": "zh_CN", "quiet": "town"},
    ),
    # group robots: the branch's secretary and the office; the town's: the office
    Case(
        "POST",
        "/branches/{jinwan}/robots",
        allow("secretary", "admin", ok=303),
        {"service": "wecom", "url": "http://127.0.0.1:9/send?key=abc"},
    ),
    Case(
        "POST",
        "/branches/{jinwan}/robots/{robot_jinwan}/disable",
        allow("secretary", "admin", ok=303),
    ),
    Case(
        "POST",
        "/branches/{baoyuan}/robots/{robot_baoyuan}/enable",
        allow("secretary2", "admin", ok=303),
    ),
    Case(
        "POST",
        "/branches/{jinwan}/robots/{robot_jinwan}/remove",
        allow("secretary", "admin", ok=303),
    ),
    # a robot of another branch through this branch's address: not found
    Case(
        "POST",
        "/branches/{jinwan}/robots/{robot_baoyuan}/remove",
        allow("secretary", "admin", ok=404),
    ),
    Case(
        "POST",
        "/office/robots",
        allow("admin", ok=303),
        {"service": "wecom", "url": "http://127.0.0.1:9/send?key=abc"},
    ),
    Case("POST", "/office/robots/{robot_town}/disable", allow("admin", ok=303)),
    Case("POST", "/office/robots/{robot_town}/enable", allow("admin", ok=303)),
    Case("POST", "/office/robots/{robot_town}/remove", allow("admin", ok=303)),
    Case("POST", "/office/robots/{robot_jinwan}/remove", allow("admin", ok=404)),
    # the outbox: the office requeues dead letters
    Case("POST", "/outbox/{dead_delivery}/retry", allow("admin", ok=303)),
    Case("POST", "/outbox/retry", allow("admin", ok=303)),
    # meetings: the branch's organisers (its secretary, the office) run them; a member
    # expected asks for leave; strangers are told the meeting does not exist
    Case(
        "POST",
        "/meetings/new",
        allow("secretary", "admin", ok=303),
        {**meeting_form(), "branch_id": "{jinwan}"},
    ),
    Case(
        "POST",
        "/meetings/{meeting_jinwan}/edit",
        allow("secretary", "admin", ok=303, secretary2=404),
        meeting_form(),
    ),
    Case(
        "POST",
        "/meetings/{meeting_jinwan}/cancel",
        allow("secretary", "admin", ok=303, secretary2=404),
        REASON,
    ),
    Case(
        "POST",
        "/meetings/{meeting_jinwan}/leave",
        allow("member", "secretary", ok=303, secretary2=404),
        REASON,
    ),
    Case(
        "POST",
        "/meetings/{meeting_jinwan}/leave/{leave_member}/withdraw",
        allow("member", ok=303, denied=404),
    ),
    Case(
        "POST",
        "/meetings/{meeting_jinwan}/leave/{leave_member}/decide",
        allow("secretary", "admin", ok=303, secretary2=404),
        {"decision": "grant", "reason": ""},
    ),
    Case(
        "POST",
        "/meetings/{meeting_ended}/close",
        allow("secretary", "admin", ok=303, secretary2=404),
        {"minutes": "学习全会精神"},
    ),
    # (next week's check-in has not opened: a member expected is told so, 409)
    Case(
        "POST",
        "/meetings/{meeting_jinwan}/checkin",
        allow("member", "secretary", ok=409, denied=404),
        {"code": "123456"},
    ),
    Case(
        "POST",
        "/meetings/{meeting_ended}/attendance/{member}",
        allow("secretary", "admin", ok=303, secretary2=404),
        {"present": "1", "back": "attendance"},
    ),
    Case(
        "POST",
        "/meetings/{meeting_closed}/amend",
        allow("secretary", "admin", ok=303, secretary2=404),
        {"member_id": "{member2}", "outcome": "leave", "reason": "补交请假条"},
    ),
    Case(
        "POST",
        "/meetings/{meeting_closed}/makeup",
        allow("secretary", "admin", ok=303, secretary2=404),
        {"title": "补课", "day": "{makeup_day}", "start": "19:00", "end": "20:00"},
    ),
    # the annual appraisal: the branch's secretary (or the office) opens and fills it
    # (金湾's 2025 sheet exists: 409 for them), its instructor or the office approves
    Case(
        "POST",
        "/appraisals/new",
        allow("secretary", "admin", ok=409),
        {"branch_id": "{jinwan}", "year": "2025"},
    ),
    Case(
        "POST", "/appraisals/{appraisal_baoyuan}", allow("secretary2", "admin", ok=303, denied=404)
    ),
    Case(
        "POST",
        "/appraisals/{appraisal_baoyuan}/refresh",
        allow("secretary2", "admin", ok=303, denied=404),
    ),
    Case(
        "POST",
        "/appraisals/{appraisal_jinwan}/approve",
        allow("instructor", "admin", ok=303, denied=404, secretary=403),
    ),
    Case(
        "POST",
        "/appraisals/{appraisal_jinwan}/return",
        allow("instructor", "admin", ok=303, denied=404, secretary=403),
        REASON,
    ),
    # nothing approved yet: the office is told so (409)
    Case("POST", "/appraisals/excellent/2025/publish", allow("admin", ok=409)),
    # branch ratings: the office opens rounds (this year's is open: 409 after the guard)
    # and publishes (宝元 is not audited: 409); a branch's secretary or the office fills
    # its sheet; its instructor or the office audits a submitted one
    Case("POST", "/ratings", allow("admin", ok=409), {"period": "{rating_period}"}),
    Case("POST", "/ratings/{rating_round}/publish", allow("admin", ok=409)),
    Case(
        "POST",
        "/ratings/{rating_round}/branches/{baoyuan}/self",
        allow("secretary2", "admin", ok=303, secretary=404, instructor=404),
        {"score_{rated_indicator}": "90", "action": "save"},
    ),
    Case(
        "POST",
        "/ratings/{rating_round}/branches/{jinwan}/audit",
        allow("instructor", "admin", ok=303, secretary2=404),
    ),
    # the unsubscribe form (with its CSRF token) and RFC 8058's one-click POST (without:
    # web/unsubscribe/views.py says why), for whoever holds the link
    Case("POST", "/notify/unsubscribe/{unsubscribe_token}", ANYONE),
    Case("POST", "/notify/unsubscribe/{nobody}", allow(ok=404, denied=404, anonymous=404)),
    Case(
        "POST",
        "/notify/unsubscribe/{unsubscribe_token}/one-click",
        ANYONE,
        {"List-Unsubscribe": "One-Click"},
    ),
)


# --- the town and its objects --------------------------------------------------------------


@dataclass
class World:
    ids: dict[str, Any]

    def fill(self, text: str) -> str:
        return text.format(**self.ids)


def build_world(
    database: Database, town: SmallTown, rulebook: Rulebook, photo_store: PhotoStore | None = None
) -> World:
    """``photo_store``: where the photos' files go, the app's upload folder so that the
    photo routes find them. Without one the files go to a folder removed at once: the
    rows exist, and the photo routes answer 404 for the missing file."""
    if photo_store is None:
        with tempfile.TemporaryDirectory() as scratch:
            return build_world(database, town, rulebook, PhotoStore(Path(scratch), 10**7, 3))

    def who(username: str) -> Any:
        return town.principal(database, username)

    def submit(username: str, rule_id: str = "volunteer", *, photo: bool = False) -> int:
        with database.transaction() as session:
            return submit_entry(
                session,
                who(username),
                rulebook,
                EntryInput(rule_id, today(), Decimal(1), "在西山桥路口指挥交通"),
                today=today(),
                now=utcnow(),
                photos=[PhotoUpload(io.BytesIO(jpeg_bytes()), "photo.jpg")] if photo else [],
                photo_store=photo_store,
            )

    def photo_of(entry_id: int) -> int | None:
        with database.transaction(write=False) as session:
            return session.scalar(select(EntryPhoto.id).where(EntryPhoto.entry_id == entry_id))

    def approve(reviewer: str, entry_id: int) -> int:
        with database.transaction() as session:
            approve_entry(session, who(reviewer), rulebook, entry_id, now=utcnow())
        return entry_id

    ids: dict[str, Any] = {
        "jinwan": town.jinwan,
        "baoyuan": town.baoyuan,
        "member": town.member_ids["member"],
        "member2": town.member_ids["member2"],
        "secretary": town.member_ids["secretary"],
        "member3": town.member_ids["member3"],
        "elder": town.member_ids["elder"],
        "account_member2": town.account_ids["member2"],
        "nobody": 999_999,
        "today": today().isoformat(),
        "this_month": THIS_MONTH,
        "last_month": LAST_MONTH,
        "pending_member": submit("member"),
        "pending_secretary": submit("secretary"),
        "pending_member3": submit("member3"),
        "approved_member": approve("secretary", submit("member")),
        "approved_member3": approve("secretary2", submit("member3")),
        "suggestion_jinwan": approve("secretary", submit("member2", "suggestion")),
        "suggestion_baoyuan": approve("secretary2", submit("member3", "suggestion")),
        "photo_entry_member": submit("member", photo=True),
        "photo_entry_member3": submit("member3", photo=True),
    }
    ids["photo_member"] = photo_of(ids["photo_entry_member"])
    ids["photo_member3"] = photo_of(ids["photo_entry_member3"])
    with database.transaction() as session:
        # Nothing counts in last month (the world's entries are this month's): published
        # on purpose, as the office confirms it.
        publish_month(session, who("admin"), rulebook, LAST_MONTH, now=utcnow(), confirm_empty=True)
        for branch in ("jinwan", "baoyuan"):
            ids[f"org_{branch}"] = session.scalar(
                select(Organisation.id).where(Organisation.branch_id == ids[branch])
            )
        retired = Account(
            username="retired",
            password_hash=password_hash(),
            display_name="退休干部",
            is_active=False,
            disabled_at=utcnow(),
        )
        session.add(retired)
        session.flush()
        ids["account_retired"] = retired.id
    with database.transaction() as session:
        ids["objection"] = raise_objection(
            session,
            who("member2"),
            LAST_MONTH,
            LineRef(branch_id=town.jinwan),
            "本支部参与率与实际不符。",
            now=utcnow(),
        )
    with database.transaction() as session:
        group = PartyGroup(branch_id=town.jinwan, name="第一党小组", created_at=utcnow())
        organiser = MeetingOrganiser(
            branch_id=town.jinwan,
            account_id=town.account_ids["member2"],
            created_at=utcnow(),
            created_by_id=town.account_ids["secretary"],
        )
        session.add_all([group, organiser])
        session.flush()
        ids["group_jinwan"], ids["organiser_jinwan"] = group.id, organiser.id
        ids["account_member"] = town.account_ids["member"]
        ids["unsubscribe_token"] = settings_for(
            session, town.account_ids["member"]
        ).unsubscribe_token
    # A published branch stars list (web/results).
    with database.transaction() as session:
        publish_results(
            session,
            who("admin"),
            kind=PublicationKind.BRANCH_STARS,
            period="2025",
            lines=[ResultLine(town.jinwan, "B001", "金湾", town.jinwan, "金湾", "90.0", "4", 1)],
            ruleset_version="2025.1",
            notice_days=7,
            now=utcnow(),
        )
    ids["stars_year"] = "2025"
    ids.update(add_warning_cases(database, town, rulebook))
    # The meetings last: one of them is closed, which rebuilds this month's boards.
    ids.update(add_meetings(database, town, rulebook, photo_store=photo_store))
    ids.update(add_appraisals(database, town, rulebook))
    ids.update(add_rating_round(database, town, rulebook, photo_store))
    ids.update(add_notifications(database, town))
    return World(ids)


def add_rating_round(
    database: Database, town: SmallTown, rulebook: Rulebook, photo_store: PhotoStore
) -> dict[str, Any]:
    """This year's rating round (opened as on 1 December): 金湾 submitted with an evidence
    photo, 宝元 still a draft."""
    year = today().year
    with database.transaction() as session:
        rating_round = open_round(
            session, who_of(database, town, "admin"), rulebook, str(year),
            today=date(year, 12, 1), timezone="Asia/Shanghai", now=utcnow(),
        )  # fmt: skip
        policy = round_policy(rulebook, rating_round)
        assessed = [indicator.id for indicator in policy.assessed()]
        self_assess(
            session, who_of(database, town, "secretary"), rulebook, rating_round.id, town.jinwan,
            {
                indicator: SelfScore(
                    "90", "台账齐全",
                    PhotoUpload(io.BytesIO(jpeg_bytes()), "台账.jpg") if number == 0 else None,
                )
                for number, indicator in enumerate(assessed)
            },
            submit=True, store=photo_store, now=utcnow(),
        )  # fmt: skip
        return {
            "rating_round": rating_round.id,
            "rating_period": str(year),
            "rated_indicator": assessed[0],
        }


def who_of(database: Database, town: SmallTown, username: str) -> Any:
    return town.principal(database, username)


@pytest.fixture
def world(database: Database, town: SmallTown, rulebook: Rulebook, app: Any) -> World:
    return build_world(database, town, rulebook, PhotoStore.from_settings(app.state.settings))


def browser_for(make_browser: Any, role: str) -> tuple[Browser, str]:
    """A browser signed in as ``role`` (or not at all) and a CSRF token of its session."""
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    if role == ANONYMOUS:
        return browser, browser.csrf_token("/login")
    browser.login(role)
    return browser, browser.csrf_token("/boards")


def status_of(browser: Browser, token: str, case: Case, world: World) -> int:
    path = world.fill(case.path)
    if case.method == "GET":
        response = browser.client.get(path, follow_redirects=False)
    else:
        form = {key: world.fill(value) for key, value in case.form.items()}
        files = {"roster": ("roster.csv", case.upload, "text/csv")} if case.upload else None
        response = browser.client.post(
            path, data={**form, "_csrf_token": token}, files=files, follow_redirects=False
        )
    status: int = response.status_code
    return status


@pytest.mark.parametrize("role", ROLES)
def test_pages(role: str, world: World, make_browser: Any) -> None:
    browser, token = browser_for(make_browser, role)
    wrong = []
    for case in GETS:
        got = status_of(browser, token, case, world)
        if got != case.expect[role]:
            wrong.append(f"{case}: {role} got {got}, expected {case.expect[role]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", POSTS, ids=str)
def test_actions(role: str, case: Case, world: World, make_browser: Any) -> None:
    browser, token = browser_for(make_browser, role)
    got = status_of(browser, token, case, world)
    assert got == case.expect[role], f"{case}: {role} got {got}, expected {case.expect[role]}"


def test_anonymous_is_sent_to_sign_in(world: World, make_browser: Any) -> None:
    browser, _token = browser_for(make_browser, ANONYMOUS)
    response = browser.client.get(world.fill("/branches/{baoyuan}"), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_a_post_without_the_csrf_token_is_refused(world: World, make_browser: Any) -> None:
    browser, _token = browser_for(make_browser, "secretary")
    path = world.fill("/review/{pending_member}/approve")
    response = browser.client.post(path, data={}, follow_redirects=False)
    assert response.status_code == 403
    assert "expired" in response.text


# Prefixes of routes being built alongside, not in the matrix yet: a new feature may put
# its prefix here until its lines are in GETS/POSTS. Every route is in the matrix now.
NOT_YET_IN_MATRIX: tuple[str, ...] = ()
# No object behind them: sign-in, sign-out, language, health, the own password.
EXEMPT = (
    "/",
    "/login",
    "/logout",
    "/lang",
    "/healthz",
    "/readyz",
    "/metrics",
    "/account/password",
)


def test_every_route_of_the_app_is_in_the_matrix(app: Any) -> None:
    """A new route, or a new method of a route, fails here until it has its line above."""
    covered = [(case.method, _segments(case.path)) for case in (*GETS, *POSTS)]
    missing = []
    for route in app.routes:
        path = route.path
        if path.startswith(("/static", "/schema")) or path in EXEMPT:
            continue
        segments = _segments(path)
        if any(_matches(segments, _segments(prefix), prefix=True) for prefix in NOT_YET_IN_MATRIX):
            continue
        for method in sorted({"GET", "POST"} & set(route.methods)):
            if not any(m == method and _matches(segments, case) for m, case in covered):
                missing.append(f"{method} {path}")
    assert not missing, "routes without a line in the permission matrix:\n" + "\n".join(
        sorted(missing)
    )


def _segments(path: str) -> list[str]:
    """Path segments, a parameter ("{branch_id:int}", "{jinwan}") as "*"."""
    path = path.split("?", 1)[0]
    return ["*" if part.startswith("{") else part for part in path.strip("/").split("/")]


def _matches(route: list[str], case: list[str], *, prefix: bool = False) -> bool:
    if len(case) > len(route) or (not prefix and len(case) != len(route)):
        return False
    return all(r == c or "*" in (r, c) for r, c in zip(route, case, strict=False))
