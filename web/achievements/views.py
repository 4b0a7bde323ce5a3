"""A branch's achievements in the spirit of the town report: /achievements/{branch_id}."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from service.boards.achievements import branch_achievements, year_suggestions_page
from service.meetings.compliance import branch_compliance
from service.persistence.pagination import page_number
from service.publication.result_views import branch_stars
from web.deps import Db, RecordId, Rules, town_date
from web.guards import requires_login

# The town's rules start in the 2020s; earlier years are not pages.
FIRST_YEAR = 2000


class AchievementsController(Controller):
    path = "/achievements"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/{branch_id:str}", sync_to_thread=True)
    def branch(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        branch_id: FromPath[RecordId],
        year: FromQuery[int | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        """Open to every signed-in user: approved entries only, never deductions."""
        today = town_date(request)
        shown = today.year if year is None else year
        if not FIRST_YEAR <= shown <= today.year:
            raise NotFoundException()
        achievements = branch_achievements(db, rulebook, branch_id, shown)
        suggestions = year_suggestions_page(db, rulebook, branch_id, shown, page=page_number(page))
        meetings = branch_compliance(db, rulebook, branch_id, shown, as_of=today)
        return Template(
            "achievements/branch.html",
            context={
                "a": achievements,
                "suggestions": suggestions,
                "meetings": meetings,
                "star_rounds": branch_stars(db, branch_id),
                "previous_year": shown - 1 if shown > FIRST_YEAR else None,
                "next_year": shown + 1 if shown < today.year else None,
            },
        )
