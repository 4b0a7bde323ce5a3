"""Spreadsheet formula injection: no export lets a name start a formula.

A name typed as ``=HYPERLINK(...)``, ``+1+1``, ``-2+3``, ``@SUM(...)``, or with a tab or
carriage return in front, is a formula to Excel and LibreOffice when opened from a CSV,
and in an XLSX when the cell is stored as a formula. Every export must neutralise it:

- CSV: such a cell starts with an apostrophe (``'=HYPERLINK(...)``), the convention
  spreadsheets read as "text"; only plain numbers (a negative "-1.0") may start with "-";
- XLSX: no cell is a formula (data type "f"); names are strings (data type "s").

The exports are found from the app itself: every GET route is fetched as the office,
with each period kind (this month live, a published month, a quarter, a year) and both
branches, and whatever answers as CSV or XLSX is checked. A new export is covered the
day it exists; the known ones must be among those found.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar
from openpyxl import load_workbook

from service.accounts.admin import create_account, parse_account, parse_roles
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import shift_period
from service.people.branches import branch_for_edit, parse_branch, update_branch
from service.people.members import parse_member, update_member
from service.persistence.db import Database
from service.persistence.models import Branch, Member
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.functional.test_csrf_everywhere import Route, fill_path, route_table
from tests.functional.test_permission_matrix import (
    THIS_MONTH,
    World,
    browser_for,
    build_world,
    today,
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?\d+(\.\d+)?")
CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Two months back: build_world publishes last month before anything here is named, so
# the published month with these names is the one before.
PUBLISHED = shift_period(THIS_MONTH, -2)

# Every formula start, on people with points (so they are on every board) and branches.
NAMES = {
    "member": '=HYPERLINK("http://evil.example","点击")',
    "member2": "+1+1",
    "secretary": "-2+3+cmd|' /C calc'!A0",
    "member3": "@SUM(1+1)*cmd|' /C calc'!A0",
    "secretary2": "\t=1+1 陈书记",
}
BRANCH_NAMES = {"jinwan": "=1+1 金湾联合党支部", "baoyuan": "\r@宝元鞋厂党支部"}
# The forms trim names, so a leading tab or carriage return cannot be typed in; a roster
# kept elsewhere or an old row may still have one: name_the_town writes those two as
# they are.
# An account whose username starts a formula: the audit log names it.
USERNAME = "-A1"
# The exports that exist today: each must be among those found (the search works).
KNOWN_EXPORTS = {
    "/boards/{period:str}/members.csv",
    "/boards/{period:str}/members.xlsx",
    "/boards/{period:str}/branches.csv",
    "/boards/{period:str}/branches.xlsx",
    "/boards/{period:str}/branches/{branch_id:str}/members.csv",
    "/boards/{period:str}/branches/{branch_id:str}/members.xlsx",
    "/admin/audit.csv",
    "/admin/import/template.csv",
    "/admin/import/template.xlsx",
}
# Exports with fixed content (the roster import's blank templates): still checked for
# formulas, but they carry no names.
FIXED_CONTENT = {"/admin/import/template.csv", "/admin/import/template.xlsx"}


def first_of(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


def name_the_town(database: Database, town: SmallTown, world: World, rulebook: Rulebook) -> None:
    """Names that start formulas, points for everyone in this month and in PUBLISHED,
    and PUBLISHED published (its stored rows carry the names)."""
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        for key, name in BRANCH_NAMES.items():
            branch_id = world.ids[key]
            current = branch_for_edit(session, admin, branch_id)
            update_branch(
                session,
                admin,
                branch_id,
                parse_branch({"code": current.code, "name": name, "kind": current.kind.value}),
            )
        for username, name in NAMES.items():
            member = session.get(Member, town.member_ids[username])
            assert member is not None
            values = {
                "code": member.code,
                "name": name,
                "branch_id": str(member.branch_id),
                "organisation_id": "",
                "status": member.status.value,
                "joined_party_on": "2010-07-01",
            }
            update_member(session, admin, member.id, parse_member(values, today=today()))
        # What the forms trimmed, as an imported or old row would have it.
        secretary2 = session.get(Member, town.member_ids["secretary2"])
        baoyuan = session.get(Branch, world.ids["baoyuan"])
        assert secretary2 is not None and baoyuan is not None
        secretary2.name = NAMES["secretary2"]
        baoyuan.name = BRANCH_NAMES["baoyuan"]
        session.flush()
        create_account(
            session,
            admin,
            parse_account(
                {"username": USERNAME, "display_name": "-A1", "password": "initial-password-1"},
                parse_roles([], [], False),
            ),
        )
    reviewer = {"member": "secretary", "member2": "secretary", "member3": "secretary2"}
    reviewer |= {"secretary": "instructor", "secretary2": "admin"}
    for username in NAMES:
        for day in (first_of(PUBLISHED), today()):
            with database.transaction() as session:
                entry_id = submit_entry(
                    session,
                    town.principal(database, username),
                    rulebook,
                    EntryInput("volunteer", day, Decimal(2), "义务巡河"),
                    # Declared on the day: two months ago is further back than allowed.
                    today=day,
                    now=utcnow(),
                )
            with database.transaction() as session:
                approve_entry(
                    session,
                    town.principal(database, reviewer[username]),
                    rulebook,
                    entry_id,
                    now=utcnow(),
                )
    with database.transaction() as session:
        publish_month(session, admin, rulebook, PUBLISHED, now=utcnow())


# --- what a cell may be --------------------------------------------------------------------


def csv_problems(body: bytes) -> tuple[list[str], list[str]]:
    """(cells that would start a formula, cells neutralised with an apostrophe)."""
    text = body.decode("utf-8-sig")
    bad, neutralised = [], []
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            if cell.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(cell):
                bad.append(repr(cell))
            if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
                neutralised.append(cell)
    return bad, neutralised


def xlsx_problems(body: bytes) -> tuple[list[str], list[str]]:
    """(formula cells, the text cells that start like a formula and are kept as text)."""
    workbook = load_workbook(io.BytesIO(body))
    bad, kept = [], []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    bad.append(f"{sheet.title}!{cell.coordinate} {cell.value!r}")
                elif isinstance(cell.value, str) and cell.value.lstrip("'").startswith(
                    FORMULA_STARTS
                ):
                    if cell.data_type != "s":
                        bad.append(f"{sheet.title}!{cell.coordinate} {cell.data_type}")
                    else:
                        kept.append(cell.value)
    return bad, kept


# --- finding the exports -------------------------------------------------------------------


def variants(route: Route, world: World) -> list[dict[str, str]]:
    """Each period kind and each branch for the route's parameters."""
    periods = [THIS_MONTH, PUBLISHED, f"{THIS_MONTH[:4]}-Q{(int(THIS_MONTH[5:]) + 2) // 3}"]
    periods.append(THIS_MONTH[:4])
    options: list[dict[str, str]] = [{}]
    if "period" in route.parameters:
        options = [{**o, "period": p} for o in options for p in periods]
    if "branch_id" in route.parameters:
        options = [{**o, "branch_id": b} for o in options for b in ("{jinwan}", "{baoyuan}")]
    return options


def find_exports(app: Litestar, world: World, client: Any) -> dict[str, list[tuple[str, Any]]]:
    """Route path → [(filled path, response)] of every GET answering CSV or XLSX."""
    found: dict[str, list[tuple[str, Any]]] = {}
    for route in route_table(app):
        if "GET" not in route.methods or route.path.startswith(("/static", "/schema")):
            continue
        for chosen in variants(route, world):
            path = fill_path(route, world, chosen)
            response = client.get(path, follow_redirects=False)
            kind = str(response.headers.get("content-type", ""))
            if kind.startswith((CSV_TYPE, XLSX_TYPE)):
                found.setdefault(route.path, []).append((path, response))
    return found


@pytest.fixture
def world(database: Database, town: SmallTown, rulebook: Rulebook) -> World:
    world = build_world(database, town, rulebook)
    name_the_town(database, town, world, rulebook)
    return world


def check_exports(found: dict[str, list[tuple[str, Any]]], kind: str) -> list[str]:
    """What is wrong in the exports of one kind (CSV_TYPE or XLSX_TYPE)."""
    wrong: list[str] = []
    for route_path, responses in sorted(found.items()):
        seen: list[str] = []
        checked = 0
        for path, response in responses:
            if not str(response.headers["content-type"]).startswith(kind):
                continue
            checked += 1
            assert response.status_code == 200, f"{path}: {response.status_code}"
            bad, harmless = (csv_problems if kind == CSV_TYPE else xlsx_problems)(response.content)
            wrong += [f"{path}: {cell}" for cell in bad]
            seen += harmless
        if checked and route_path not in FIXED_CONTENT and not seen:
            # Otherwise the check above saw no name at all and proves nothing.
            wrong.append(f"{route_path}: none of the town's names in any of its exports")
    return wrong


@pytest.fixture
def exports(app: Litestar, world: World, make_browser: Any) -> dict[str, list[tuple[str, Any]]]:
    browser, _token = browser_for(make_browser, "admin")
    found = find_exports(app, world, browser.client)
    assert set(found) >= KNOWN_EXPORTS, sorted(KNOWN_EXPORTS - set(found))
    return found


def test_every_csv_export_neutralises_formulas(exports: dict[str, list[tuple[str, Any]]]) -> None:
    wrong = check_exports(exports, CSV_TYPE)
    assert not wrong, "CSV cells a spreadsheet would run as a formula:\n" + "\n".join(wrong)


def test_every_xlsx_export_stores_names_as_text(
    exports: dict[str, list[tuple[str, Any]]],
) -> None:
    wrong = check_exports(exports, XLSX_TYPE)
    assert not wrong, "XLSX cells stored as formulas:\n" + "\n".join(wrong)


def test_the_names_survive_as_text(app: Litestar, world: World, make_browser: Any) -> None:
    """Neutralised, not mangled: the apostrophe is the only change in a CSV, and the
    XLSX keeps the name exactly."""
    browser, _token = browser_for(make_browser, "member")
    csv_text = browser.client.get(f"/boards/{THIS_MONTH}/members.csv").content.decode("utf-8-sig")
    cells = {cell for row in csv.reader(io.StringIO(csv_text, newline="")) for cell in row}
    for name in NAMES.values():
        assert "'" + name in cells, name
    workbook = load_workbook(
        io.BytesIO(browser.client.get(f"/boards/{THIS_MONTH}/members.xlsx").content)
    )
    sheet = workbook.active
    assert sheet is not None
    values = {cell.value for row in sheet.iter_rows() for cell in row}
    for name in NAMES.values():
        assert name in values or "'" + name in values, name


def test_the_checks_catch_formulas() -> None:
    """The checks themselves, on hand-made files."""
    bad, _ = csv_problems(b"name,points\r\n=1+1,-1.0\r\n'=1+1,2\r\n")
    assert bad == ["'=1+1'"]
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["=1+1", "@x"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    bad, kept = xlsx_problems(buffer.getvalue())
    assert len(bad) == 1 and kept == ["@x"]
