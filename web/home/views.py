"""The front door (each person's home page) and the language switch."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from service.accounts.principal import Principal
from service.kernel.periods import period_of
from service.meetings.home import pending_leaves
from service.meetings.views import home_meetings
from service.overview.home import member_home, office_home, reviewer_home
from service.persistence.types import utcnow
from service.publication.state import MONTH_STATE_LABELS
from web.auth import safe_next
from web.deps import Db, Rules, sees_town_ranks, town_date
from web.forms import FormData, first_value
from web.i18n import LANG_COOKIE, LOCALES, gettext, render


class HomeController(Controller):
    path = ""

    @get("/", sync_to_thread=True)
    def home(self, request: Request[Any, Any, Any], db: Db, rulebook: Rules) -> Template | Redirect:
        """A block for each hat the person wears: their own points as a member, each
        branch they review, the office's months. Someone with none of them (an account
        without a member record or a role) has the public boards."""
        principal: Principal | None = request.scope.get("user")
        if principal is None:
            return Redirect("/login", status_code=303)
        if principal.member_id is None and not principal.is_reviewer:
            return Redirect("/boards", status_code=303)
        today, now = town_date(request), utcnow()
        meetings = home_meetings(
            db, principal, now=now, timezone=request.app.state.settings.timezone
        )
        return Template(
            "home/index.html",
            context={
                "person": principal,
                "period": period_of(today),
                "state_label": lambda state: gettext(MONTH_STATE_LABELS[state]),
                "member": member_home(db, principal, rulebook, today=today, now=now),
                "show_town_ranks": sees_town_ranks(request),
                "branches": reviewer_home(db, principal, rulebook, today=today),
                "office": office_home(db, principal, rulebook, now=now),
                "meetings": meetings,
                "pending_leaves": pending_leaves(db, principal, [m.id for m in meetings]),
                "now": now,
                "say": render,
            },
        )

    @post("/lang", sync_to_thread=False)
    def switch_language(self, data: FormData) -> Redirect:
        form = first_value(data)
        locale = form.get("locale")
        target = safe_next(form.get("next"))
        if locale not in LOCALES:
            return Redirect(target, status_code=303)
        return Redirect(
            target,
            status_code=303,
            cookies=[
                Cookie(
                    key=LANG_COOKIE,
                    value=str(locale),
                    path="/",
                    max_age=365 * 24 * 3600,
                    samesite="lax",
                    httponly=True,
                )
            ],
        )
