"""Object-level access: role × route × object, over real HTTP with CSRF.

The permission matrix (test_permission_matrix.py) asks "may this role use this route"
with fixed objects. This file adds the object as a dimension of its own and generates
it: every route that takes an object id runs, for each role, with the object that is

- ``own``: the role's own (its member record, its entry, its account...);
- ``same``: someone else's in the role's branch;
- ``other``: someone's in the other branch;
- ``missing``: an id that does not exist (404, or 403 where the role is refused
  before anything is looked up, so it learns nothing; never 500);

and the status each gets comes from a small rule table below (one per kind of access).
Roles' branches: member, secretary and the instructor are of 金湾, secretary2 of 宝元;
the office has none, so for it "same" is 金湾 and "other" 宝元 (it may do both).
Where a role has no such object (no member record of its own), the cell is skipped.

GET rows run together per role; each POST row runs on a fresh town per role, its
objects in the order other, same, missing, own (own last: acting on oneself may end
one's own session). A route with an id in its path and no row here fails
test_every_route_with_an_id_has_a_row.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar
from PIL import Image
from sqlalchemy import select

from service.accounts.admin import disable_account
from service.entries.entry import EntryInput, submit_entry
from service.entries.evidence import PhotoStore, PhotoUpload
from service.entries.review import approve_entry
from service.kernel.config import Settings
from service.persistence.db import Database
from service.persistence.meetings import MeetingOrganiser, PartyGroup
from service.persistence.models import Branch, EntryPhoto, Member, Organisation
from service.persistence.types import utcnow
from service.publication.objections import LineRef, raise_objection
from service.scoring.engine import MANUAL_RULE_ID
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.functional.meeting_world import meeting_form
from tests.functional.test_csrf_everywhere import route_table, same_shape
from tests.functional.test_permission_matrix import (
    LAST_MONTH,
    THIS_MONTH,
    World,
    browser_for,
    build_world,
    member_form,
    today,
)
from tests.functional.warning_world import talk_on_every_case

SIGNED_IN = ("member", "secretary", "secretary2", "instructor", "admin")
RELATIONS = ("own", "same", "other", "missing")
POST_ORDER = ("other", "same", "missing", "own")

# --- who is who -------------------------------------------------------------------------

PEOPLE = ("member", "member2", "secretary", "member3", "secretary2")  # with member records
BRANCH_OF = {"member": "jinwan", "member2": "jinwan", "secretary": "jinwan"} | {
    "member3": "baoyuan",
    "secretary2": "baoyuan",
}
HOME = {"member": "jinwan", "secretary": "jinwan", "secretary2": "baoyuan"} | {
    "instructor": "jinwan",
    "admin": "jinwan",
}
OTHER_BRANCH = {"jinwan": "baoyuan", "baoyuan": "jinwan"}
OWN_PERSON = {"member": "member", "secretary": "secretary", "secretary2": "secretary2"}
SAME_PERSON = {role: "member3" if HOME[role] == "baoyuan" else "member2" for role in SIGNED_IN}
OTHER_PERSON = {role: "member2" if HOME[role] == "baoyuan" else "member3" for role in SIGNED_IN}

# --- the rule tables ------------------------------------------------------------------------

# fmt: off
OK = 0  # the row's success status (200 for a page, 303 for an action)
Rule = dict[str, tuple[int, int, int, int]]  # role → (own, same, other, missing)

# Boards and achievements: public to everyone signed in.
PUBLIC: Rule = {
    #             own   same  other missing
    "member":     (OK,   OK,   OK,   404),
    "secretary":  (OK,   OK,   OK,   404),
    "secretary2": (OK,   OK,   OK,   404),
    "instructor": (OK,   OK,   OK,   404),
    "admin":      (OK,   OK,   OK,   404),
}
# A member's points: the member, the reviewers of the member's branch, the office.
POINTS: Rule = {
    #             own   same  other missing
    "member":     (OK,   403,  403,  404),
    "secretary":  (OK,   OK,   403,  404),
    "secretary2": (OK,   OK,   403,  404),
    "instructor": (OK,   OK,   403,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# A branch's pages (suggestions, roster): its secretary and instructors, the office;
# a member is refused by the guard before anything is looked up (403, even if missing).
REVIEWERS: Rule = {
    #             own   same  other missing
    "member":     (403,  403,  403,  403),
    "secretary":  (OK,   OK,   403,  404),
    "secretary2": (OK,   OK,   403,  404),
    "instructor": (OK,   OK,   403,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# Changing a branch's records (deductions, the roster): its secretary and the office;
# instructors oversee but do not edit (past the guard, so a missing branch is 404 to
# them: branch ids are no secret, the boards list every branch).
EDITORS: Rule = {
    #             own   same  other missing
    "member":     (403,  403,  403,  403),
    "secretary":  (OK,   OK,   403,  404),
    "secretary2": (OK,   OK,   403,  404),
    "instructor": (403,  403,  403,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# The office's pages: the office alone; everyone else is refused by the guard.
OFFICE: Rule = {
    #             own   same  other missing
    "member":     (403,  403,  403,  403),
    "secretary":  (403,  403,  403,  403),
    "secretary2": (403,  403,  403,  403),
    "instructor": (403,  403,  403,  403),
    "admin":      (OK,   OK,   OK,   404),
}
# Review decisions on an entry: a reviewer of the entry's branch, never on their own
# entry (a secretary's own goes to the instructor or the office).
REVIEW: Rule = {
    #             own   same  other missing
    "member":     (403,  403,  403,  403),
    "secretary":  (403,  OK,   403,  404),
    "secretary2": (403,  OK,   403,  404),
    "instructor": (403,  OK,   403,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# Revoking an approval: as REVIEW, but the route is open to anyone signed in and the
# entry is looked up first, so a member learns a missing id is missing (ids are
# sequential; the entry itself stays refused).
REVOKE: Rule = {**REVIEW, "member": (403, 403, 403, 404)}
# A member's record through a branch's roster: its secretary and the office edit it;
# the instructor is refused for the branch before the member is looked up.
# And nobody edits their own record (a secretary marking themselves exempt would leave
# the rankings): the office does.
ROSTER_EDIT: Rule = {
    **EDITORS,
    "instructor": (403, 403, 403, 403),
    "secretary":  (403,  OK,   403,  404),
    "secretary2": (403,  OK,   403,  404),
}
# A deduction or adjustment for a member: as ROSTER_EDIT, and nobody records points for
# themselves either (a secretary's own are recorded by the office).
ADJUST: Rule = ROSTER_EDIT
# An entry's photos (evidence): those who may see the entry — its member, the
# reviewers of its branch, the office. Who may look is checked before the photo is
# looked up, so a member learns nothing about a missing photo of someone else's entry.
ENTRY_VIEWERS: Rule = {
    #             own   same  other missing
    "member":     (OK,   403,  403,  403),
    "secretary":  (OK,   OK,   403,  404),
    "secretary2": (OK,   OK,   403,  404),
    "instructor": (OK,   OK,   403,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# Withdrawing an entry: its member only.
OWNER: Rule = {
    #             own   same  other missing
    "member":     (OK,   403,  403,  404),
    "secretary":  (OK,   403,  403,  404),
    "secretary2": (OK,   403,  403,  404),
    "instructor": (403,  403,  403,  403),
    "admin":      (403,  403,  403,  403),
}
# Changes through the API with the session cookie: refused (401) to every role whatever
# the object, before anything is looked up; the API takes them with a token only
# (tests/functional/test_api_tokens.py runs these tables with tokens).
API_COOKIE: Rule = {role: (401, 401, 401, 401) for role in SIGNED_IN}
# A meeting: those expected, the branch's secretary and instructors, the office. To
# anyone else it does not exist (404, like a missing one). No meeting is "own".
MEETING_VIEW: Rule = {
    #             own   same  other missing
    "member":     (OK,   OK,   404,  404),
    "secretary":  (OK,   OK,   404,  404),
    "secretary2": (OK,   OK,   404,  404),
    "instructor": (OK,   OK,   404,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# Running a meeting (edit, cancel, close, amend, make-up, answer leave): the branch's
# organisers (its secretary) and the office; those who see it without running it 403.
MEETING_RUN: Rule = {
    #             own   same  other missing
    "member":     (403,  403,  404,  404),
    "secretary":  (OK,   OK,   404,  404),
    "secretary2": (OK,   OK,   404,  404),
    "instructor": (403,  403,  404,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# Asking for leave: the members expected (the office and instructors have no member
# record: 403).
MEETING_LEAVE: Rule = {
    **MEETING_RUN,
    "member": (OK, OK, 404, 404),
    "instructor": (403, 403, 404, 404),
    "admin": (403, 403, 403, 404),
}
# A member's own check-in page: the members expected (a secretary is one of its branch's
# members); nobody else finds it, not even the office or the instructor, who have no
# member record to check in.
MEETING_CHECKIN: Rule = {
    #             own   same  other missing
    "member":     (OK,   OK,   404,  404),
    "secretary":  (OK,   OK,   404,  404),
    "secretary2": (OK,   OK,   404,  404),
    "instructor": (404,  404,  404,  404),
    "admin":      (404,  404,  404,  404),
}
# An appraisal sheet (金湾's submitted, 宝元's open; no sheet is "own"): the branch's
# secretaries and instructors and the office; to anyone else it does not exist.
APPRAISAL_VIEW: Rule = {
    #             own   same  other missing
    "member":     (404,  404,  404,  404),
    "secretary":  (404,  OK,   404,  404),
    "secretary2": (404,  OK,   404,  404),
    "instructor": (404,  OK,   404,  404),
    "admin":      (404,  OK,   OK,   404),
}
# Filling it: the branch's secretary or the office, while open (金湾's is submitted: 409);
# the instructor sees it without filling it (403).
APPRAISAL_FILL: Rule = {
    #             own   same  other missing
    "member":     (404,  404,  404,  404),
    "secretary":  (404,  409,  404,  404),
    "secretary2": (404,  OK,   404,  404),
    "instructor": (404,  403,  404,  404),
    "admin":      (404,  409,  OK,   404),
}
# Approving or returning it: the branch's instructor or the office, once submitted (宝元's
# is still open: 409); its secretary sees it without approving (403).
APPRAISAL_APPROVE: Rule = {
    #             own   same  other missing
    "member":     (404,  404,  404,  404),
    "secretary":  (404,  403,  404,  404),
    "secretary2": (404,  403,  404,  404),
    "instructor": (404,  OK,   404,  404),
    "admin":      (404,  OK,   409,  404),
}
# A branch's rating sheet (星级支部): its secretary, its instructor, the office; a member is
# refused by the guard; to anyone else the sheet does not exist.
RATING_SHEET: Rule = {
    #             own   same  other missing
    "member":     (403,  403,  403,  403),
    "secretary":  (OK,   OK,   404,  404),
    "secretary2": (OK,   OK,   404,  404),
    "instructor": (OK,   OK,   404,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# The round itself lists only the branches each overseer sees: any branch as the filter.
RATING_ROUND: Rule = {**RATING_SHEET, **{r: (OK, OK, OK, OK) for r in SIGNED_IN[1:]}}
# Filling a sheet: the branch's secretary and the office; its instructor is refused.
RATING_SELF: Rule = {**RATING_SHEET, "instructor": (403, 403, 404, 404)}
# Auditing a sheet: the branch's instructor and the office; its secretary is refused.
RATING_AUDIT: Rule = {
    **RATING_SHEET,
    "secretary": (403, 403, 404, 404),
    "secretary2": (403, 403, 404, 404),
}
# A warning case (预警): the member it is about, the branch's secretary and instructor, the
# office; to anyone else it does not exist (404, like a missing one). A secretary's own
# case is theirs to read (as its member: without the talk's notes).
CASE_VIEW: Rule = {
    #             own   same  other missing
    "member":     (OK,   404,  404,  404),
    "secretary":  (OK,   OK,   404,  404),
    "secretary2": (OK,   OK,   404,  404),
    "instructor": (OK,   OK,   404,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# Recording a talk, closing: the branch's secretary (never on their own case) and the
# office; the member and the instructor see the case but do not act (403).
CASE_ACT: Rule = {
    #             own   same  other missing
    "member":     (403,  404,  404,  404),
    "secretary":  (403,  OK,   404,  404),
    "secretary2": (403,  OK,   404,  404),
    "instructor": (403,  403,  404,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# Responding: the member the case is about, nobody else.
CASE_RESPOND: Rule = {
    #             own   same  other missing
    "member":     (OK,   404,  404,  404),
    "secretary":  (OK,   403,  404,  404),
    "secretary2": (OK,   403,  404,  404),
    "instructor": (403,  403,  404,  404),
    "admin":      (403,  403,  403,  404),
}
# A branch's group robots (issue 19): its secretary and the office; the instructor too is
# refused (the settings hold nothing an instructor acts on). The branch is looked up
# first (branch ids are no secret), so a missing one is 404 to everyone.
ROBOTS: Rule = {
    #             own   same  other missing
    "member":     (403,  403,  403,  404),
    "secretary":  (OK,   OK,   403,  404),
    "secretary2": (OK,   OK,   403,  404),
    "instructor": (403,  403,  403,  404),
    "admin":      (OK,   OK,   OK,   404),
}
# One robot through its branch's address: the branch (which exists) is checked first.
ROBOT_ACT: Rule = {
    #             own   same  other missing
    "member":     (403,  403,  403,  403),
    "secretary":  (OK,   OK,   403,  404),
    "secretary2": (OK,   OK,   403,  404),
    "instructor": (403,  403,  403,  403),
    "admin":      (OK,   OK,   OK,   404),
}
# Opening an inbox message: one's own; anyone else's is not found, like a missing one.
INBOX_OPEN: Rule = {role: (OK, 404, 404, 404) for role in SIGNED_IN}
# fmt: on


def expected(row: Row, role: str, relation: str) -> int:
    if (role, relation) in row.exceptions:
        return row.exceptions[(role, relation)]
    status = row.rule[role][RELATIONS.index(relation)]
    return row.ok if status == OK else status


# --- the rows ---------------------------------------------------------------------------

# Placeholders in paths and forms: {obj} the object's id; {branch} the object's branch;
# {owner} the member an entry belongs to; {today}, {this_month}, {last_month}; {other}
# the branch that is not the object's. Kinds name what {obj} is:
#   branch, organisation, group, organiser — by the role's branch (no "own")
#   member, account              — a person's (the office and the instructor have an
#                                  account of their own but no member record)
#   pending, approved, suggestion, objection — a person's entry (or objection)
#   photo                        — a photo of a person's pending entry ({entry} is it)
REASON = {"reason": "经支部核实"}
DEDUCTION = {"rule_id": MANUAL_RULE_ID, "points": "-1.0", "reason": "无故缺席组织生活"}
MEETING_FORM = {k: v for k, v in meeting_form().items() if k != "day"} | {"day": "{makeup_day}"}
# The office cannot lock itself out: its own office role and its own account stay.
OWN_ACCOUNT_KEPT = {("admin", "own"): 409}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    kind: str
    rule: Rule
    ok: int = 200
    form: dict[str, str] = field(default_factory=dict)
    # Run on the fresh town before a POST row (e.g. disable the accounts to enable).
    prepare: Callable[[Database, World], None] | None = None
    # (role, relation) → status where the route lets the role in and the action itself
    # is refused for a reason of its own; each says why where the row is.
    exceptions: dict[tuple[str, str], int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.kind}]"


def disable_people(database: Database, world: World) -> None:
    """The enable row acts on disabled accounts of each relation."""
    with database.transaction() as session:
        admin = world.ids["principal_admin"]
        for person in ("member2", "member3"):
            disable_account(session, admin, world.ids[f"account_{person}"], now=utcnow())


GETS: tuple[Row, ...] = (
    Row("GET", "/members/{obj}/points", "member", POINTS),
    Row("GET", "/branches/{obj}", "branch", REVIEWERS),
    Row("GET", "/branches/{obj}/roster", "branch", REVIEWERS),
    Row("GET", "/branches/{obj}/roster/new", "branch", EDITORS),
    Row("GET", "/branches/{branch}/roster/{obj}", "member", REVIEWERS),
    Row("GET", "/branches/{obj}/adjustments/new", "branch", EDITORS),
    Row("GET", "/branches/{obj}/groups", "branch", REVIEWERS),
    Row("GET", "/boards/{this_month}/branches/{obj}", "branch", PUBLIC),
    Row("GET", "/boards/{last_month}/branches/{obj}", "branch", PUBLIC),
    Row("GET", "/boards/{this_month}/branches/{obj}/members.csv", "branch", PUBLIC),
    Row("GET", "/boards/{last_month}/branches/{obj}/members.xlsx", "branch", PUBLIC),
    Row("GET", "/achievements/{obj}", "branch", PUBLIC),
    Row("GET", "/admin/branches/{obj}", "branch", OFFICE),
    Row("GET", "/admin/organisations/{obj}", "organisation", OFFICE),
    Row("GET", "/admin/members/{obj}", "member", OFFICE),
    Row("GET", "/admin/members/{obj}/transfer", "member", OFFICE),
    Row("GET", "/admin/accounts/{obj}", "account", OFFICE),
    Row("GET", "/entries/{entry}/photos/{obj}", "photo", ENTRY_VIEWERS),
    Row("GET", "/entries/{entry}/photos/{obj}?thumb=true", "photo", ENTRY_VIEWERS),
    Row("GET", "/review/bulk?entry={obj}", "pending", REVIEW),
    # the API (here with the session cookie; with tokens in test_api_tokens.py): an entry
    # is looked up before who may see it, so a missing one is 404 to everyone
    Row(
        "GET",
        "/api/entries/{obj}",
        "pending",
        ENTRY_VIEWERS,
        exceptions={("member", "missing"): 404},
    ),
    Row("GET", "/api/members/{obj}", "member", POINTS),
    Row("GET", "/meetings/{obj}", "meeting", MEETING_VIEW),
    Row("GET", "/meetings/{obj}/edit", "meeting", MEETING_RUN),
    Row("GET", "/meetings/{obj}/close", "ended", MEETING_RUN),
    Row("GET", "/meetings/{obj}/makeup", "closed", MEETING_RUN),
    # {entry}: a photo of the minutes of the meeting (of the branch's, for a missing one)
    Row("GET", "/meetings/{obj}/photos/{entry}", "minutes", MEETING_VIEW),
    Row("GET", "/meetings/{obj}/photos/{entry}?thumb=true", "minutes", MEETING_VIEW),
    Row("GET", "/api/meetings/{obj}/attendance", "meeting", MEETING_VIEW),
    Row("GET", "/meetings/{obj}/checkin/screen", "meeting", MEETING_RUN),
    Row("GET", "/meetings/{obj}/checkin", "meeting", MEETING_CHECKIN),
    Row("GET", "/meetings/{obj}/attendance", "ended", MEETING_RUN),
    Row("GET", "/appraisals/{obj}", "appraisal", APPRAISAL_VIEW),
    Row("GET", "/appraisals/{obj}/print", "appraisal", APPRAISAL_VIEW),
    # branch ratings: this year's round, 金湾 submitted with an evidence photo, 宝元 a draft
    Row("GET", "/ratings/{rating_round}?b={obj}", "branch", RATING_ROUND),
    Row("GET", "/ratings/{rating_round}/branches/{obj}", "branch", RATING_SHEET),
    # (宝元's sheet has no evidence photo: 404 to those who see it)
    Row(
        "GET",
        "/ratings/{rating_round}/branches/{obj}/evidence/{rated}",
        "branch",
        RATING_SHEET,
        exceptions={("secretary2", "same"): 404, ("admin", "other"): 404},
    ),
    Row("GET", "/warnings/{obj}", "case", CASE_VIEW),
    Row("GET", "/branches/{obj}/robots", "branch", ROBOTS),
)

POSTS: tuple[Row, ...] = (
    # telling people (issue 19): inbox messages ("notification": one per person), a
    # branch's robots ("robot": one per branch), the town's ("town_robot"), the outbox's
    # dead letters ("dead": one; retrying a missing one is a no-op that says so: 303)
    Row("POST", "/inbox/{obj}/open", "notification", INBOX_OPEN, 303),
    Row(
        "POST",
        "/branches/{obj}/robots",
        "branch",
        ROBOTS,
        303,
        {"service": "wecom", "url": "http://127.0.0.1:9/send?key=abc"},
    ),
    Row("POST", "/branches/{branch}/robots/{obj}/enable", "robot", ROBOT_ACT, 303),
    Row("POST", "/branches/{branch}/robots/{obj}/disable", "robot", ROBOT_ACT, 303),
    Row("POST", "/branches/{branch}/robots/{obj}/remove", "robot", ROBOT_ACT, 303),
    Row("POST", "/office/robots/{obj}/enable", "town_robot", OFFICE, 303),
    Row("POST", "/office/robots/{obj}/disable", "town_robot", OFFICE, 303),
    Row("POST", "/office/robots/{obj}/remove", "town_robot", OFFICE, 303),
    Row("POST", "/outbox/{obj}/retry", "dead", OFFICE, 303, exceptions={("admin", "missing"): 303}),
    # the annual appraisal ("appraisal": 金湾's submitted sheet, 宝元's open one)
    Row("POST", "/appraisals/{obj}", "appraisal", APPRAISAL_FILL, 303),
    Row("POST", "/appraisals/{obj}/refresh", "appraisal", APPRAISAL_FILL, 303),
    Row("POST", "/appraisals/{obj}/approve", "appraisal", APPRAISAL_APPROVE, 303),
    Row("POST", "/appraisals/{obj}/return", "appraisal", APPRAISAL_APPROVE, 303, REASON),
    # warning cases (one per person with a member record, from build_world)
    Row(
        "POST",
        "/warnings/{obj}/talk",
        "case",
        CASE_ACT,
        303,
        {"talked_on": "{today}", "talked_by": "王书记", "actions": "按时参加组织生活"},
    ),
    Row(
        "POST",
        "/warnings/{obj}/close",
        "case",
        CASE_ACT,
        303,
        {"outcome": "improved", "outcome_note": "已改进"},
        prepare=lambda database, world: talk_on_every_case(database, world.ids["town"]),
    ),
    Row("POST", "/warnings/{obj}/respond", "case", CASE_RESPOND, 303, {"response": "我会改进"}),
    # party groups and organisers ("group", "organiser": one of each per branch)
    Row("POST", "/branches/{obj}/groups", "branch", EDITORS, 303, {"name": "新党小组{serial}"}),
    Row("POST", "/branches/{branch}/groups/{obj}/rename", "group", EDITORS, 303, {"name": "一组"}),
    Row("POST", "/branches/{branch}/groups/{obj}/members", "group", EDITORS, 303),
    Row("POST", "/branches/{branch}/groups/{obj}/delete", "group", EDITORS, 303),
    Row(
        "POST",
        "/branches/{obj}/groups/organisers",
        "branch",
        EDITORS,
        303,
        {"account_id": "{candidate}"},
    ),
    Row("POST", "/branches/{branch}/groups/organisers/{obj}/delete", "organiser", EDITORS, 303),
    Row("POST", "/entries/{obj}/withdraw", "pending", OWNER, 303),
    Row("POST", "/review/{obj}/approve", "pending", REVIEW, 303),
    Row("POST", "/review/{obj}/reject", "pending", REVIEW, 303, REASON),
    Row("POST", "/review/bulk", "pending", REVIEW, 303, {"entry": "{obj}"}),
    Row(
        "POST",
        "/members/{owner}/points/entries/{obj}/revoke",
        "approved",
        REVOKE,
        303,
        REASON,
    ),
    Row(
        "POST",
        "/branches/{branch}/suggestions/{obj}/adopted",
        "suggestion",
        REVIEW,
        303,
        {"day": "{today}"},
    ),
    Row(
        "POST",
        "/branches/{branch}/adjustments/new",
        "member",
        ADJUST,
        303,
        {**DEDUCTION, "member_id": "{obj}", "day": "{today}"},
    ),
    Row(
        "POST",
        "/branches/{obj}/roster/new",
        "branch",
        EDITORS,
        303,
        member_form(code="N{serial}", name="孙丽"),
    ),
    Row("POST", "/branches/{branch}/roster/{obj}", "member", ROSTER_EDIT, 303, {"person": "same"}),
    Row(
        "POST",
        "/admin/publication/{last_month}/objections/{obj}/resolve",
        "objection",
        OFFICE,
        303,
        {"resolution": "no_change", "answer": "经核实,公示无误。"},
    ),
    Row("POST", "/admin/branches/{obj}", "branch", OFFICE, 303, {"branch": "same"}),
    Row("POST", "/admin/organisations/{obj}", "organisation", OFFICE, 303, {"org": "same"}),
    Row("POST", "/admin/members/{obj}", "member", OFFICE, 303, {"person": "same"}),
    Row(
        "POST",
        "/admin/members/{obj}/transfer",
        "member",
        OFFICE,
        303,
        {"to_branch_id": "{other}", "effective": "{today}", "note": "随企业搬迁"},
        # Past the access check the office is refused for the date: these members have
        # points today, which stay with the branch they were earned in.
        exceptions={("admin", "same"): 422, ("admin", "other"): 422},
    ),
    Row(
        "POST",
        "/admin/accounts/{obj}/roles",
        "account",
        OFFICE,
        303,
        {"secretary": "{branch}"},
        exceptions=OWN_ACCOUNT_KEPT,
    ),
    Row(
        "POST",
        "/admin/accounts/{obj}/reset-password",
        "account",
        OFFICE,
        303,
        {"password": "fresh-initial-pw"},
    ),
    Row(
        "POST", "/admin/accounts/{obj}/disable", "account", OFFICE, 303, exceptions=OWN_ACCOUNT_KEPT
    ),
    # (the office's own account is enabled already: 409 too)
    Row(
        "POST",
        "/admin/accounts/{obj}/enable",
        "account",
        OFFICE,
        303,
        prepare=disable_people,
        exceptions=OWN_ACCOUNT_KEPT,
    ),
    Row("POST", "/admin/accounts/{obj}/end-sessions", "account", OFFICE, 303),
    # an API token for the account: the page shows it once (200)
    Row("POST", "/admin/accounts/{obj}/tokens", "account", OFFICE, 200, {"name": "区党建平台同步"}),
    # (this town has no tokens: the office gets 404 past the guard, everyone else 403
    # before any lookup; revoking real tokens, and through another account's page, is in
    # test_api_tokens.py)
    Row("POST", "/admin/accounts/{obj}/tokens/{obj}/revoke", "account", OFFICE, 404),
    Row("POST", "/api/reviews/{obj}/approve", "pending", API_COOKIE),
    Row("POST", "/api/reviews/{obj}/reject", "pending", API_COOKIE, form=REASON),
    Row("POST", "/api/meetings/{obj}/attendance", "meeting", API_COOKIE),
    Row("POST", "/meetings/{obj}/edit", "meeting", MEETING_RUN, 303, MEETING_FORM),
    Row("POST", "/meetings/{obj}/cancel", "meeting", MEETING_RUN, 303, REASON),
    Row("POST", "/meetings/{obj}/leave", "meeting", MEETING_LEAVE, 303, REASON),
    # {entry}: the pending leave request of a member of the meeting's branch (张伟's in
    # 金湾, 刘洋's in 宝元). Withdrawing is theirs alone; the others do not find it.
    Row(
        "POST",
        "/meetings/{obj}/leave/{entry}/withdraw",
        "meeting",
        {role: (404, 404, 404, 404) for role in SIGNED_IN},
        exceptions={("member", "same"): 303},
    ),
    Row(
        "POST",
        "/meetings/{obj}/leave/{entry}/decide",
        "meeting",
        MEETING_RUN,
        303,
        {"decision": "grant", "reason": ""},
    ),
    Row("POST", "/meetings/{obj}/close", "ended", MEETING_RUN, 303, {"minutes": "学习全会精神"}),
    # next week's meeting: check-in has not opened, so a member expected is told so (409)
    Row("POST", "/meetings/{obj}/checkin", "meeting", MEETING_CHECKIN, 409, {"code": "123456"}),
    # {owner}: a member expected at the meeting, ticked present on its attendance list
    Row(
        "POST",
        "/meetings/{obj}/attendance/{owner}",
        "ended",
        MEETING_RUN,
        303,
        {"present": "1", "back": "attendance"},
    ),
    Row(
        "POST",
        "/meetings/{obj}/amend",
        "closed",
        MEETING_RUN,
        303,
        {"member_id": "{owner}", "outcome": "leave", "reason": "补交请假条"},
    ),
    # 金湾's sheet is submitted (the branch no longer changes it: 409; the audit may
    # start), 宝元's a draft (to be filled; not yet to audit: 409); publishing waits for
    # every branch (409, after the guard let the office in)
    Row(
        "POST",
        "/ratings/{rating_round}/branches/{obj}/self",
        "branch",
        RATING_SELF,
        303,
        {"action": "save"},
        exceptions={("secretary", "same"): 409, ("admin", "same"): 409},
    ),
    Row(
        "POST",
        "/ratings/{rating_round}/branches/{obj}/audit",
        "branch",
        RATING_AUDIT,
        303,
        exceptions={("admin", "other"): 409},
    ),
    Row(
        "POST",
        "/ratings/{obj}/publish",
        "round",
        {**OFFICE, "admin": (409, 409, 409, 404)},
    ),
    Row(
        "POST",
        "/meetings/{obj}/makeup",
        "closed",
        MEETING_RUN,
        303,
        {"title": "补课", "day": "{makeup_day}", "start": "19:00", "end": "20:00"},
    ),
)


# --- the objects ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One object a row acts on, and what its placeholders need."""

    obj: int
    branch: int  # the object's branch (the role's home branch for a missing one)
    owner: int | None = None  # an entry's member
    entry: int | None = None  # a photo's entry
    person: str | None = None  # the username behind a member, account or entry


ENTRY_KINDS = ("pending", "approved", "suggestion")
MEETING_KINDS = ("meeting", "ended", "closed", "minutes")  # minutes: the closed one


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (179, 38, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def build(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    kinds: frozenset[str],
    settings: Settings | None = None,
) -> World:
    """The permission matrix's town plus, for each person, an object of each of
    ``kinds`` (an entry in that state, an objection), so every relation of a row has an
    object of its own. Only the kinds a test needs: entries cost approvals."""
    world = build_world(
        database, town, rulebook, PhotoStore.from_settings(settings) if settings else None
    )
    ids = world.ids

    def who(username: str) -> Any:
        return town.principal(database, username)

    def submit(username: str, rule_id: str, *, photo: bool = False) -> int:
        with database.transaction() as session:
            return submit_entry(
                session,
                who(username),
                rulebook,
                EntryInput(rule_id, today(), Decimal(1), "为工友子女联系入学"),
                today=today(),
                now=utcnow(),
                photos=[PhotoUpload(io.BytesIO(png()), "现场.png")] if photo else (),
                photo_store=PhotoStore.from_settings(settings) if settings else None,
            )

    def approve(entry_id: int, owner: str) -> int:
        # A secretary's own entry goes to the instructor (金湾) or the office (宝元).
        reviewer = {"secretary": "instructor", "secretary2": "admin"}.get(owner)
        reviewer = reviewer or ("secretary" if BRANCH_OF[owner] == "jinwan" else "secretary2")
        with database.transaction() as session:
            approve_entry(session, who(reviewer), rulebook, entry_id, now=utcnow())
        return entry_id

    for person in PEOPLE:
        ids[f"account_{person}"] = town.account_ids[person]
        if "pending" in kinds:
            ids[f"pending_{person}"] = submit(person, "volunteer")
        if "approved" in kinds:
            ids[f"approved_{person}"] = approve(submit(person, "volunteer"), person)
        if "suggestion" in kinds:
            ids[f"suggestion_{person}"] = approve(submit(person, "suggestion"), person)
        if "photo" in kinds:
            assert settings is not None, "photos need the app's upload folder"
            entry_id = submit(person, "volunteer", photo=True)
            with database.transaction(write=False) as session:
                photo_id = session.scalar(
                    select(EntryPhoto.id).where(EntryPhoto.entry_id == entry_id)
                )
            assert photo_id is not None
            ids[f"photo_entry_{person}"] = entry_id
            ids[f"photo_{person}"] = photo_id
        if "objection" in kinds and person == "member2":
            ids["objection_member2"] = ids["objection"]  # raised by build_world
        elif "objection" in kinds:
            with database.transaction() as session:
                ids[f"objection_{person}"] = raise_objection(
                    session,
                    who(person),
                    LAST_MONTH,
                    LineRef(branch_id=town.jinwan),
                    "参与率与实际不符,请核实。",
                    now=utcnow(),
                )
    for role in ("instructor", "admin"):
        ids[f"account_{role}"] = town.account_ids[role]
    ids["principal_admin"] = who("admin")
    ids["town"] = town
    with database.transaction() as session:
        # build_world made 金湾's group and organiser; 宝元's here. (The organiser row
        # is only something to remove: whose account it names does not matter.)
        group = PartyGroup(branch_id=town.baoyuan, name="宝元党小组", created_at=utcnow())
        organiser = MeetingOrganiser(
            branch_id=town.baoyuan,
            account_id=town.account_ids["member2"],
            created_at=utcnow(),
            created_by_id=town.account_ids["secretary2"],
        )
        session.add_all([group, organiser])
        session.flush()
        ids["group_baoyuan"], ids["organiser_baoyuan"] = group.id, organiser.id
    # A member of each branch with an account who organises nothing yet.
    ids["candidate_jinwan"] = town.account_ids["member"]
    ids["candidate_baoyuan"] = town.account_ids["member3"]
    return world


def target(world: World, town: SmallTown, row: Row, role: str, relation: str) -> Target | None:
    ids = world.ids
    home = HOME[role]
    if relation == "missing":
        # A missing object in a real place: the same-branch person's member id, and for
        # a photo that person's entry (which exists).
        same = SAME_PERSON[role]
        entry = ids.get(f"photo_entry_{same}")
        if row.kind in MEETING_KINDS:  # a missing meeting, with a real leave request
            entry = ids["leave_member" if home == "jinwan" else "leave_member3"]
        if row.kind == "minutes":  # a missing meeting, with a real photo
            entry = ids["minutes_photo" if home == "jinwan" else "minutes_photo_baoyuan"]
        return Target(ids["nobody"], ids[home], owner=town.member_ids[same], entry=entry)
    if row.kind in MEETING_KINDS:
        if relation == "own":
            return None
        branch = home if relation == "same" else OTHER_BRANCH[home]
        suffix = "" if branch == "jinwan" else "_baoyuan"
        name = f"meeting_{branch}" if row.kind == "meeting" else f"meeting_{row.kind}{suffix}"
        # {entry}: the branch's pending leave request (a photo of the minutes of the
        # closed meeting); {owner}: a member expected.
        person = "member" if branch == "jinwan" else "member3"
        leave = ids[f"leave_{person}"]
        if row.kind == "minutes":
            name, leave = f"meeting_closed{suffix}", ids[f"minutes_photo{suffix}"]
        return Target(ids[name], ids[branch], owner=town.member_ids[person], entry=leave)
    if row.kind in ("town_robot", "dead"):  # one of its kind, the office's
        if relation != "same":
            return None
        return Target(ids["robot_town" if row.kind == "town_robot" else "dead_delivery"], ids[home])
    if row.kind == "round":  # this year's rating round, whoever asks
        return Target(ids["rating_round"], ids[home]) if relation == "same" else None
    if row.kind in ("branch", "organisation", "group", "organiser", "appraisal", "robot"):
        if relation == "own":
            return None
        branch = home if relation == "same" else OTHER_BRANCH[home]
        prefix = "org" if row.kind == "organisation" else row.kind
        obj = ids[branch] if row.kind == "branch" else ids[f"{prefix}_{branch}"]
        return Target(obj, ids[branch])
    person = {"own": OWN_PERSON, "same": SAME_PERSON, "other": OTHER_PERSON}[relation].get(role)
    if person is None:
        if row.kind == "account" and relation == "own":  # the office's, the instructor's
            return Target(ids[f"account_{role}"], ids[home], person=role)
        return None
    branch = ids[BRANCH_OF[person]]
    if row.kind == "member":
        return Target(town.member_ids[person], branch, person=person)
    obj = ids[f"{row.kind}_{person}"]
    entry = ids.get(f"photo_entry_{person}")
    return Target(obj, branch, owner=town.member_ids[person], entry=entry, person=person)


def fill(text: str, world: World, where: Target, relation: str = "") -> str:
    ids = world.ids
    other = OTHER_BRANCH["jinwan" if where.branch == ids["jinwan"] else "baoyuan"]
    return text.format(
        obj=where.obj,
        branch=where.branch,
        owner=where.owner,
        entry=where.entry,
        other=ids[other],
        candidate=ids.get(f"candidate_{OTHER_BRANCH[other]}"),
        today=today().isoformat(),
        makeup_day=ids["makeup_day"],
        this_month=THIS_MONTH,
        last_month=LAST_MONTH,
        serial=RELATIONS.index(relation) if relation else 0,
        rating_round=ids.get("rating_round"),
        rated=ids.get("rated_indicator"),
    )


def form_of(
    row: Row, world: World, where: Target, relation: str, database: Database
) -> dict[str, str]:
    """The row's form; {"person": ...}, {"branch": ...} and {"org": ...} stand for the
    object's own current values (a save that changes nothing but passes validation)."""
    if "person" in row.form:
        with database.transaction(write=False) as session:
            member = session.get(Member, where.obj)
            if member is None:
                return member_form()
            return member_form(
                code=member.code,
                name=member.name,
                status=member.status.value,
                joined_party_on=member.joined_party_on.isoformat()
                if member.joined_party_on
                else "",
                branch_id=str(member.branch_id),
            )
    if "branch" in row.form:
        with database.transaction(write=False) as session:
            branch = session.get(Branch, where.obj)
            if branch is None:
                return {"code": "B009", "name": "不存在", "kind": "single"}
            return {"code": branch.code, "name": branch.name, "kind": branch.kind.value}
    if "org" in row.form:
        with database.transaction(write=False) as session:
            org = session.get(Organisation, where.obj)
            found = org or session.scalar(select(Organisation).limit(1))
            assert found is not None
            return {
                "name": found.name,
                "kind": found.kind.value,
                "branch_id": str(found.branch_id),
                "business_status": found.business_status,
                "employee_count": str(found.employee_count),
                "owner_name": found.owner_name,
            }
    return {key: fill(value, world, where, relation) for key, value in row.form.items()}


def run(
    row: Row,
    role: str,
    relation: str,
    browser: Any,
    token: str,
    world: World,
    town: SmallTown,
    database: Database,
) -> str | None:
    """The row for one role and relation: None when it gave the expected status, else
    what went wrong."""
    where = target(world, town, row, role, relation)
    if where is None:
        return None
    path = fill(row.path, world, where)
    if row.method == "GET":
        response = browser.client.get(path, follow_redirects=False)
    else:
        form = form_of(row, world, where, relation, database)
        response = browser.client.post(
            path, data={**form, "_csrf_token": token}, follow_redirects=False
        )
    want = expected(row, role, relation)
    if response.status_code == want:
        return None
    return f"{row} as {role}, {relation} ({path}): got {response.status_code}, expected {want}"


@pytest.mark.parametrize("role", SIGNED_IN)
def test_pages_by_object(
    role: str,
    app: Litestar,
    town: SmallTown,
    rulebook: Rulebook,
    make_browser: Any,
    database: Database,
) -> None:
    kinds = frozenset(row.kind for row in GETS)
    world = build(database, town, rulebook, kinds, app.state.settings)
    browser, token = browser_for(make_browser, role)
    wrong = [
        problem
        for row in GETS
        for relation in RELATIONS
        if (problem := run(row, role, relation, browser, token, world, town, database))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", SIGNED_IN)
@pytest.mark.parametrize("row", POSTS, ids=str)
def test_actions_by_object(
    role: str,
    row: Row,
    town: SmallTown,
    rulebook: Rulebook,
    make_browser: Any,
    database: Database,
) -> None:
    world = build(database, town, rulebook, frozenset({row.kind}))
    if row.prepare is not None:
        row.prepare(database, world)
    browser, token = browser_for(make_browser, role)
    wrong = [
        problem
        for relation in POST_ORDER
        if (problem := run(row, role, relation, browser, token, world, town, database))
    ]
    assert not wrong, "\n".join(wrong)


# Path parameters that name an object; "period", "step" and the like do not.
def _object_parameters(parameters: dict[str, type]) -> list[str]:
    return [name for name in parameters if name.endswith("_id")]


def test_every_route_with_an_id_has_a_row(app: Litestar) -> None:
    """A route (or method) taking an object id in its path fails here until it has a
    row above, and so a rule for who may reach whose object."""
    rows = [(row.method, row.path.split("?")[0]) for row in (*GETS, *POSTS)]
    missing = [
        f"{method} {route}"
        for route in route_table(app)
        if _object_parameters(route.parameters)
        for method in sorted({"GET", "POST"} & route.methods)
        if not any(m == method and same_shape(route.path, path) for m, path in rows)
    ]
    assert not missing, "routes with an object id and no row:\n" + "\n".join(missing)


def test_rule_tables_cover_every_role() -> None:
    for rule in (
        PUBLIC,
        POINTS,
        REVIEWERS,
        EDITORS,
        OFFICE,
        REVIEW,
        REVOKE,
        ROSTER_EDIT,
        ADJUST,
        ENTRY_VIEWERS,
        OWNER,
        API_COOKIE,
        MEETING_VIEW,
        MEETING_RUN,
        MEETING_LEAVE,
        MEETING_CHECKIN,
        RATING_SHEET,
        RATING_ROUND,
        RATING_SELF,
        RATING_AUDIT,
        ROBOTS,
        ROBOT_ACT,
        INBOX_OPEN,
    ):
        assert set(rule) == set(SIGNED_IN)
