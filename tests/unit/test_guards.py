"""The route guards of web/guards.py, each let through and refused, on requests built by
Litestar's RequestFactory: the principal is what the middleware would have put in
``scope["user"]`` (and ``scope["auth"]`` says how it signed in). No database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pytest
from litestar import get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.testing import RequestFactory

from service.accounts.principal import Principal
from service.persistence.models import Role
from web.auth import BearerAuth
from web.guards import (
    TokenRequired,
    requires_admin,
    requires_api_access,
    requires_login,
    requires_member,
    requires_reviewer,
)

JINWAN = 1
SESSION_TOKEN = "a-session-cookie-token"
Guard = Callable[[Any, BaseRouteHandler], None]
Method = Literal["GET", "HEAD", "OPTIONS", "POST"]


@get("/", sync_to_thread=False)
def page() -> None:
    """A route handler to hand the guards: none of them looks at it."""


def principal(*grants: tuple[Role, int | None], member_id: int | None = None) -> Principal:
    return Principal(
        account_id=7,
        username="someone",
        display_name="某人",
        member_id=member_id,
        member_branch_id=JINWAN if member_id is not None else None,
        member_branch_name="金湾" if member_id is not None else None,
        grants=frozenset(grants),
    )


MEMBER = principal((Role.MEMBER, None), member_id=3)
SECRETARY = principal((Role.SECRETARY, JINWAN))
INSTRUCTOR = principal((Role.INSTRUCTOR, JINWAN))
ADMIN = principal((Role.ADMIN, None))
NO_ROLE = principal()  # an account without a member record or a role


def connection(user: Principal | None, method: Method = "GET", auth: Any = None) -> Any:
    """A request as the middleware leaves it: a signed-in user's ``auth`` is the session
    cookie's token unless a bearer token is given."""
    if auth is None and user is not None:
        auth = SESSION_TOKEN
    request = RequestFactory().get("/", user=user, auth=auth)
    request.scope["method"] = method
    return request


def allowed(guard: Guard, user: Principal | None, **kwargs: Any) -> None:
    guard(connection(user, **kwargs), page)


# --- requires_login ----------------------------------------------------------------


@pytest.mark.parametrize("user", [MEMBER, SECRETARY, ADMIN, NO_ROLE])
def test_requires_login_lets_anyone_signed_in_through(user: Principal) -> None:
    allowed(requires_login, user)


def test_requires_login_refuses_nobody_with_401() -> None:
    with pytest.raises(NotAuthorizedException):
        allowed(requires_login, None)


# --- requires_member ---------------------------------------------------------------


def test_requires_member_lets_an_account_with_a_member_record_through() -> None:
    allowed(requires_member, MEMBER)


@pytest.mark.parametrize("user", [ADMIN, SECRETARY, NO_ROLE])
def test_requires_member_refuses_an_account_without_a_member_record(user: Principal) -> None:
    with pytest.raises(PermissionDeniedException):
        allowed(requires_member, user)


def test_requires_member_refuses_nobody_with_401() -> None:
    with pytest.raises(NotAuthorizedException):
        allowed(requires_member, None)


# --- requires_reviewer -------------------------------------------------------------


@pytest.mark.parametrize("user", [SECRETARY, INSTRUCTOR, ADMIN])
def test_requires_reviewer_lets_secretaries_instructors_and_the_office_through(
    user: Principal,
) -> None:
    allowed(requires_reviewer, user)


@pytest.mark.parametrize("user", [MEMBER, NO_ROLE])
def test_requires_reviewer_refuses_everybody_else(user: Principal) -> None:
    with pytest.raises(PermissionDeniedException):
        allowed(requires_reviewer, user)


def test_requires_reviewer_refuses_nobody_with_401() -> None:
    with pytest.raises(NotAuthorizedException):
        allowed(requires_reviewer, None)


# --- requires_admin ----------------------------------------------------------------


def test_requires_admin_lets_the_office_through() -> None:
    allowed(requires_admin, ADMIN)


@pytest.mark.parametrize("user", [MEMBER, SECRETARY, INSTRUCTOR, NO_ROLE])
def test_requires_admin_refuses_everybody_else(user: Principal) -> None:
    with pytest.raises(PermissionDeniedException):
        allowed(requires_admin, user)


def test_requires_admin_refuses_nobody_with_401() -> None:
    with pytest.raises(NotAuthorizedException):
        allowed(requires_admin, None)


# --- requires_api_access -----------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_api_reads_take_the_session_cookie(method: Method) -> None:
    allowed(requires_api_access, MEMBER, method=method)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_api_reads_and_changes_take_a_token(method: Method) -> None:
    allowed(requires_api_access, MEMBER, method=method, auth=BearerAuth(token_id=5))


def test_an_api_change_refuses_the_session_cookie() -> None:
    with pytest.raises(TokenRequired):
        allowed(requires_api_access, ADMIN, method="POST")


def test_an_api_change_signed_out_asks_for_a_token() -> None:
    with pytest.raises(TokenRequired):
        allowed(requires_api_access, None, method="POST")


def test_an_api_read_signed_out_is_refused_with_401() -> None:
    with pytest.raises(NotAuthorizedException) as refused:
        allowed(requires_api_access, None)
    assert not isinstance(refused.value, TokenRequired)
