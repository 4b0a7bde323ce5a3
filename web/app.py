"""The Litestar application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.static_files import create_static_files_router

from service.config import Settings, get_settings
from service.db import Database
from service.scoring.rules import Rulebook
from web.accounts.views import AuthController
from web.achievements.views import AchievementsController
from web.admin.publication import PublicationController
from web.admin.views import AdminController
from web.api.views import ApiController
from web.audit import HANDLERS as AUDIT_HANDLERS
from web.auth import SessionAuthMiddleware
from web.boards.views import BoardsController
from web.branches.views import BranchesController
from web.deps import DEPENDENCIES
from web.entries.views import EntriesController
from web.errors import EXCEPTION_HANDLERS
from web.home.views import HomeController
from web.i18n import LocaleMiddleware
from web.objections.views import ObjectionsController
from web.orgadmin import HANDLERS as ORGADMIN_HANDLERS
from web.points.views import PointsController
from web.review.views import ReviewController
from web.roster import HANDLERS as ROSTER_HANDLERS
from web.security import security_headers
from web.templating import template_config

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEVELOPMENT_SECRET = Settings.model_fields["secret_key"].default


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    rulebook: Rulebook | None = None,
) -> Litestar:
    """Build the app. Refuses to start on invalid rule files (RulesError says why)."""
    settings = settings or get_settings()
    if settings.env == "production" and settings.secret_key == DEVELOPMENT_SECRET:
        raise RuntimeError("set JIFEN_SECRET_KEY before running in production")
    rulebook = rulebook or Rulebook.from_directory(settings.rules_dir)
    database = database or Database.from_url(settings.database_url)
    logging.getLogger("jifen").setLevel(logging.INFO)

    return Litestar(
        route_handlers=[
            HomeController,
            AuthController,
            EntriesController,
            ReviewController,
            BoardsController,
            PointsController,
            BranchesController,
            AdminController,
            PublicationController,
            ObjectionsController,
            AchievementsController,
            ApiController,
            *ORGADMIN_HANDLERS,
            *ROSTER_HANDLERS,
            *AUDIT_HANDLERS,
            create_static_files_router(path="/static", directories=[STATIC_DIR]),
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(
                LocaleMiddleware,
                default_locale=settings.default_locale,
                timezone=settings.timezone,
            ),
            DefineMiddleware(SessionAuthMiddleware, database=database, settings=settings),
        ],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="jifen_csrf",
            cookie_secure=settings.https,
            cookie_httponly=True,
            cookie_samesite="lax",
        ),
        template_config=template_config(rulebook),
        openapi_config=OpenAPIConfig(
            title="Jifen API",
            version="0.1.0",
            description="Points, rankings and entries of the 党员积分服务. Sign in at /login; "
            "the session cookie authenticates API calls.",
        ),
        state=State({"settings": settings, "database": database, "rulebook": rulebook}),
        before_send=[security_headers(settings.https)],
        on_shutdown=[database.dispose],
        debug=settings.debug,
    )
