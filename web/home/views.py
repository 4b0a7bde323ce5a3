"""The front door, the language switch and a health check."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from sqlalchemy import text

from service.accounts import Principal
from web.accounts.views import safe_next
from web.deps import Db
from web.forms import first_value
from web.i18n import LANG_COOKIE, LOCALES

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


class HomeController(Controller):
    path = ""

    @get("/", sync_to_thread=False)
    def home(self, request: Request[Any, Any, Any]) -> Redirect:
        principal: Principal | None = request.scope.get("user")
        if principal is None:
            return Redirect("/login", status_code=303)
        if principal.is_reviewer:
            return Redirect("/review", status_code=303)
        if principal.member_id is not None:
            return Redirect("/entries", status_code=303)
        return Redirect("/boards", status_code=303)

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

    @get("/healthz", sync_to_thread=True, include_in_schema=False)
    def health(self, db: Db) -> dict[str, str]:
        db.execute(text("SELECT 1"))
        return {"status": "ok"}
