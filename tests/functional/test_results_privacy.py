"""Private stays private, on every way out: a warning case's talk notes, agreed actions,
outcome note and the member's response; an appraisal's inputs, veto and departure
reasons; a branch rating's notes, audit reasons and veto reasons. Each is written with a
marker no page would otherwise show; then every GET route of the app (pages, CSV and
XLSX exports, print sheets, the JSON API), with its path filled with the world's ids,
is fetched by each person outside the allowed roles, and no marker may appear.

The allowed roles are the member concerned, the branch's secretary and instructor and
the office; the member reads their case's agreed actions but never the notes for the
file. A positive control makes the test able to fail: the office finds every marker
somewhere in the same crawl.
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from litestar import Litestar

from service.assessment.appraisal import LineInput, open_appraisal, save_sheet
from service.assessment.rating import open_round, publish_round
from service.assessment.rating_sheet import AuditScore, SelfScore, audit, self_assess
from service.assessment.warnings import close_case, record_talk, respond
from service.kernel.periods import period_of, town_today
from service.persistence.assessment import AppraisalLine
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.functional.warning_world import add_warning_cases, talk_on_every_case

TZ = "Asia/Shanghai"
DEC_2025 = datetime(2025, 12, 20, 2, 0, tzinfo=UTC)

# Marker -> who may read it (usernames of the small town).
REVIEWERS = frozenset({"secretary", "instructor", "admin"})
MARKERS = {
    "TALKNOTE7Q": REVIEWERS,  # the talk's notes on 张伟's case: for the file
    "AGREEDACT7Q": REVIEWERS | {"member"},  # its agreed actions: 张伟 reads them
    "RESPONSE7Q": REVIEWERS | {"member"},  # 张伟's written response
    "OUTCOME7Q": REVIEWERS,  # the outcome note closing 李娜's case
    "VETOREASON7Q": REVIEWERS | {"member"},  # 张伟's appraisal veto reason
    "DEPARTURE7Q": REVIEWERS | {"member2"},  # why 李娜's grade departs from the suggestion
    "61.9": REVIEWERS | {"member"},  # 张伟's self-assessment input
    "SELFNOTE7Q": REVIEWERS,  # 金湾's note on an assessed indicator
    "AUDITREASON7Q": REVIEWERS,  # the auditor's reason for changing it
    "BRANCHVETO7Q": REVIEWERS,  # 金湾's rating veto reason
}
OUTSIDERS = ("anonymous", "member", "member2", "member3", "secretary2")


@dataclass(frozen=True)
class World:
    ids: dict[str, list[str]]  # path parameter name -> values to try


def _build(database: Database, town: SmallTown, rulebook: Rulebook) -> World:
    today = town_today(utcnow(), TZ)
    cases = add_warning_cases(database, town, rulebook)
    talk_on_every_case(database, town)
    secretary = town.principal(database, "secretary")
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        record_talk(
            session, secretary, cases["case_member"], talked_on=today.isoformat(),
            talked_by="王书记", notes="TALKNOTE7Q", actions="AGREEDACT7Q", deadline="",
            today=today,
        )  # fmt: skip
    with database.transaction() as session:
        respond(
            session, town.principal(database, "member"), cases["case_member"],
            text="RESPONSE7Q", now=utcnow(),
        )  # fmt: skip
    with database.transaction() as session:
        close_case(
            session, secretary, cases["case_member2"], outcome="not_improved",
            note="OUTCOME7Q", now=utcnow(),
        )  # fmt: skip

    with database.transaction() as session:
        appraisal_id = open_appraisal(
            session, secretary, rulebook, branch_id=town.jinwan, year=2025, now=DEC_2025
        )
    with database.transaction(write=False) as session:
        lines = {
            member_id: line_id
            for member_id, line_id in session.query(AppraisalLine.member_id, AppraisalLine.id)
            .filter(AppraisalLine.appraisal_id == appraisal_id)
            .all()
        }
    inputs = {"self_review": "61.9", "mutual_review": "80", "branch_grade": "qualified"}
    with database.transaction() as session:
        save_sheet(
            session, secretary, rulebook, appraisal_id,
            {
                lines[town.member_ids["member"]]: LineInput(
                    inputs=inputs, veto=True, veto_reason="VETOREASON7Q"
                ),
                lines[town.member_ids["member2"]]: LineInput(
                    inputs={**inputs, "self_review": "90"}, grade="basic",
                    departure_reason="DEPARTURE7Q",
                ),
            },
        )  # fmt: skip

    year = today.year
    with database.transaction() as session:
        round_id = open_round(
            session, admin, rulebook, str(year), today=date(year, 12, 1), timezone=TZ,
            now=utcnow(),
        ).id  # fmt: skip
    ruleset = rulebook.in_force(date(year, 12, 31))
    assert ruleset is not None and ruleset.branch_rating is not None
    assessed = [item.id for item in ruleset.branch_rating.assessed()]
    vetoes = [item.id for item in ruleset.branch_rating.vetoes]
    for branch, who, note in (
        (town.jinwan, "secretary", "SELFNOTE7Q"),
        (town.baoyuan, "secretary2", "按时开展活动"),
    ):
        with database.transaction() as session:
            self_assess(
                session, town.principal(database, who), rulebook, round_id, branch,
                {item: SelfScore("90", note) for item in assessed}, submit=True, store=None,
                now=utcnow(),
            )  # fmt: skip
    with database.transaction() as session:
        audit(
            session, admin, rulebook, round_id, town.jinwan,
            {assessed[0]: AuditScore("70", "AUDITREASON7Q")}, {vetoes[0]: "BRANCHVETO7Q"},
            now=utcnow(),
        )  # fmt: skip
        audit(session, admin, rulebook, round_id, town.baoyuan, {}, {}, now=utcnow())
    with database.transaction() as session:
        publish_round(session, admin, rulebook, round_id, now=utcnow())

    this_month = period_of(today)
    return World(
        ids={
            "case_id": [str(cases["case_member"]), str(cases["case_member2"])],
            "appraisal_id": [str(appraisal_id)],
            "round_id": [str(round_id)],
            "band_period": [cases["band_period"]],
            "branch_id": [str(town.jinwan)],
            "member_id": [str(town.member_ids["member"]), str(town.member_ids["member2"])],
            "account_id": [str(town.account_ids["member"])],
            "indicator": [assessed[0]],
            "kind": ["branch_stars", "red_list", "excellent"],
            "period": [str(year), this_month, cases["band_period"], "2025"],
        }
    )


PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def _urls(app: Litestar, world: World) -> tuple[list[str], list[str]]:
    """Every GET route with its parameters filled (all combinations of the world's
    values), and the routes left out for a parameter the world has no value for."""
    urls: list[str] = []
    skipped: list[str] = []
    for route in app.routes:
        if "GET" not in getattr(route, "methods", set()):
            continue
        names = PARAM.findall(route.path)
        if any(name not in world.ids for name in names):
            skipped.append(route.path)
            continue
        for values in itertools.product(*(world.ids[name] for name in names)):
            url = route.path
            for name, value in zip(names, values, strict=True):
                url = PARAM.sub(
                    lambda m, v=value, n=name: v if m.group(1) == n else m.group(0), url
                )
            urls.append(url)
    return sorted(set(urls)), skipped


def _text(response: Any) -> str:
    body: bytes = response.content
    if body.startswith(b"PK"):  # an XLSX: the strings are inside the zip
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "".join(
                archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
            )
    return body.decode("utf-8", "replace")


def test_nothing_private_reaches_anyone_outside_the_four_roles(
    app: Litestar,
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    make_browser: Any,
) -> None:
    world = _build(database, town, rulebook)
    urls, skipped = _urls(app, world)
    # The crawl reaches every feature of acting on results and every way out.
    for needed in ("/warnings/", "/appraisals/", "/ratings/", "/results/", "/bands", "/api/"):
        assert any(needed in url for url in urls), needed
    assert not [path for path in skipped if path.startswith(("/warnings", "/appraisals"))]

    def crawl(who: str) -> dict[str, str]:
        browser: Browser = make_browser()
        if who != "anonymous":
            browser.login(who)
        found: dict[str, str] = {}
        for url in urls:
            if url.startswith(("/logout", "/login")):
                continue
            text = _text(browser.client.get(url, follow_redirects=False))
            for marker in MARKERS:
                if marker in text:
                    found.setdefault(marker, url)
        return found

    # The control: the office sees every marker on some page.
    seen = crawl("admin")
    assert set(seen) == set(MARKERS), f"markers the office never saw: {set(MARKERS) - set(seen)}"
    leaks = []
    for who in OUTSIDERS:
        for marker, url in crawl(who).items():
            if who not in MARKERS[marker]:
                leaks.append(f"{who} reads {marker} at {url}")
    assert leaks == []
