"""The office's people administration: branches, organisations (五清), members and
accounts. Admins only (the guard), and every service call checks again."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.admin import (
    ROLE_LABELS,
    RolesInput,
    account_for_edit,
    create_account,
    current_roles,
    disable_account,
    enable_account,
    list_accounts,
    parse_account,
    parse_roles,
    reset_password,
    set_roles,
)
from service.accounts.api_tokens import (
    IssuedToken,
    issue_token,
    list_tokens,
    parse_days,
    revoke_token,
)
from service.accounts.passwords import new_initial_password
from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.accounts.sessions import end_sessions_by_office
from service.boards.live import get_branch
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_
from service.kernel.numbers import parse_id
from service.people.branches import (
    branch_choices,
    branch_for_edit,
    branch_organisations,
    branches_page,
    create_branch,
    parse_branch,
    update_branch,
)
from service.people.fields import (
    BRANCH_KIND_LABELS,
    BUSINESS_STATUS_LABELS,
    MEMBER_STATUS_LABELS,
    ORGANISATION_KIND_LABELS,
)
from service.people.members import (
    create_member,
    member_for_edit,
    parse_member,
    search_members,
    update_member,
)
from service.people.organisations import (
    create_organisation,
    list_organisations,
    organisation_for_edit,
    organisation_member_count,
    parse_organisation,
    update_organisation,
)
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from web.deps import Actor, Db, RecordId, town_date
from web.forms import (
    EMPTY_MEMBER,
    FormData,
    domain_field_errors,
    first_value,
    labels,
    member_form_context,
    member_values,
)
from web.guards import requires_admin
from web.i18n import gettext, render
from web.notices import notice

AnyRequest = Request[Any, Any, Any]

NOTICES = {
    "branch_created": N_("The branch was created."),
    "branch_saved": N_("The branch was saved."),
    "organisation_created": N_("The organisation was created."),
    "organisation_saved": N_("The organisation was saved."),
    "member_created": N_("The member was added."),
    "member_saved": N_("The member was saved."),
    "account_created": N_(
        "The account was created. Hand the initial password over in person; it must be "
        "changed at first sign-in."
    ),
    "roles_saved": N_("The roles were saved."),
    "password_reset": N_(
        "The password was reset and every session of the account ended. The new initial "
        "password must be changed at next sign-in."
    ),
    "disabled": N_("The account is disabled and signed out everywhere. Its history stays."),
    "enabled": N_("The account is enabled again."),
    "sessions_ended": N_(
        "Every session of the account ended at once: whoever uses it must sign in again."
    ),
    "other_sessions_ended": N_("Your other sessions ended; this one stays signed in."),
    "token_revoked": N_("The API token was revoked: its next request is refused."),
}
# A new token's default lifetime on the form: a year, so a forgotten one runs out.
DEFAULT_LIFETIME_DAYS = "365"


def client_ip(request: AnyRequest) -> str:
    return request.client.host if request.client else ""


class OrgAdminController(Controller):
    path = "/admin"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    # --- branches ----------------------------------------------------------------

    @get("/branches", sync_to_thread=True)
    def branches(
        self,
        db: Db,
        principal: Actor,
        q: FromQuery[str] = "",
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        result = branches_page(db, principal, q, page=page_number(page))
        return Template(
            "orgadmin/branches.html",
            context={
                "result": result,
                "q": q,
                "kinds": labels(BRANCH_KIND_LABELS),
                "notice": notice(done, NOTICES),
            },
        )

    def _branch_form(
        self,
        db: Session,
        branch_id: int | None,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        return Template(
            "orgadmin/branch_form.html",
            context={
                "branch_id": branch_id,
                "values": values,
                "errors": errors,
                "kinds": labels(BRANCH_KIND_LABELS),
                "organisations": branch_organisations(db, branch_id) if branch_id else [],
            },
            status_code=status_code,
        )

    @get("/branches/new", sync_to_thread=True)
    def new_branch(self, db: Db, principal: Actor) -> Template:
        require_admin(principal)
        return self._branch_form(db, None, {"code": "", "name": "", "kind": "single"}, {})

    @post("/branches/new", sync_to_thread=True)
    def create_branch(
        self, request: AnyRequest, db: Db, principal: Actor, data: FormData
    ) -> Template | Redirect:
        values = first_value(data)
        try:
            create_branch(db, principal, parse_branch(values))
        except InvalidInput as exc:
            db.rollback()
            return self._branch_form(db, None, values, domain_field_errors(exc), 422)
        return Redirect("/admin/branches?done=branch_created", status_code=303)

    @get("/branches/{branch_id:str}", sync_to_thread=True)
    def edit_branch(self, db: Db, principal: Actor, branch_id: FromPath[RecordId]) -> Template:
        branch = branch_for_edit(db, principal, branch_id)
        values = {"code": branch.code, "name": branch.name, "kind": branch.kind.value}
        return self._branch_form(db, branch_id, values, {})

    @post("/branches/{branch_id:str}", sync_to_thread=True)
    def save_branch(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        branch_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        values = first_value(data)
        try:
            update_branch(db, principal, branch_id, parse_branch(values))
        except InvalidInput as exc:
            db.rollback()
            return self._branch_form(db, branch_id, values, domain_field_errors(exc), 422)
        return Redirect("/admin/branches?done=branch_saved", status_code=303)

    # --- organisations -------------------------------------------------------------

    @get("/organisations", sync_to_thread=True)
    def organisations(
        self,
        db: Db,
        principal: Actor,
        q: FromQuery[str] = "",
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        result = list_organisations(db, principal, q, page_number(page))
        return Template(
            "orgadmin/organisations.html",
            context={
                "result": result,
                "q": q,
                "kinds": labels(ORGANISATION_KIND_LABELS),
                "branch_kinds": labels(BRANCH_KIND_LABELS),
                "business": labels(BUSINESS_STATUS_LABELS),
                "notice": notice(done, NOTICES),
            },
        )

    def _organisation_form(
        self,
        db: Session,
        org_id: int | None,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        return Template(
            "orgadmin/organisation_form.html",
            context={
                "org_id": org_id,
                "values": values,
                "errors": errors,
                "kinds": labels(ORGANISATION_KIND_LABELS),
                "business": labels(BUSINESS_STATUS_LABELS),
                "branches": branch_choices(db),
                "members": organisation_member_count(db, org_id) if org_id else 0,
            },
            status_code=status_code,
        )

    @get("/organisations/new", sync_to_thread=True)
    def new_organisation(
        self, db: Db, principal: Actor, branch: FromQuery[RecordId | None] = None
    ) -> Template:
        require_admin(principal)
        values = {
            "name": "",
            "kind": "enterprise",
            "branch_id": str(branch or ""),
            "business_status": "operating",
            "employee_count": "",
            "owner_name": "",
        }
        return self._organisation_form(db, None, values, {})

    @post("/organisations/new", sync_to_thread=True)
    def create_organisation(
        self, request: AnyRequest, db: Db, principal: Actor, data: FormData
    ) -> Template | Redirect:
        values = first_value(data)
        try:
            create_organisation(db, principal, parse_organisation(values))
        except InvalidInput as exc:
            db.rollback()
            return self._organisation_form(db, None, values, domain_field_errors(exc), 422)
        return Redirect("/admin/organisations?done=organisation_created", status_code=303)

    @get("/organisations/{org_id:str}", sync_to_thread=True)
    def edit_organisation(self, db: Db, principal: Actor, org_id: FromPath[RecordId]) -> Template:
        org = organisation_for_edit(db, principal, org_id)
        values = {
            "name": org.name,
            "kind": org.kind.value,
            "branch_id": str(org.branch_id),
            "business_status": org.business_status,
            "employee_count": str(org.employee_count),
            "owner_name": org.owner_name,
        }
        return self._organisation_form(db, org_id, values, {})

    @post("/organisations/{org_id:str}", sync_to_thread=True)
    def save_organisation(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        org_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        values = first_value(data)
        try:
            update_organisation(
                db,
                principal,
                org_id,
                parse_organisation(values),
            )
        except InvalidInput as exc:
            db.rollback()
            return self._organisation_form(db, org_id, values, domain_field_errors(exc), 422)
        return Redirect("/admin/organisations?done=organisation_saved", status_code=303)

    # --- members ---------------------------------------------------------------------

    @get("/members", sync_to_thread=True)
    def members(
        self,
        db: Db,
        principal: Actor,
        q: FromQuery[str] = "",
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        result = search_members(db, principal, q, page=page_number(page))
        return Template(
            "orgadmin/members.html",
            context={
                "result": result,
                "q": q,
                "statuses": labels(MEMBER_STATUS_LABELS),
                "notice": notice(done, NOTICES),
            },
        )

    def _member_form(
        self,
        db: Session,
        member_id: int | None,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
        branch_name: str = "",
        notice: str | None = None,
    ) -> Template:
        branch_id = parse_id(values.get("branch_id"))
        context = member_form_context(db, branch_id=branch_id, values=values, errors=errors)
        context.update(
            member_id=member_id,
            branches=[] if member_id else branch_choices(db),
            branch_name=branch_name,
            notice=notice,
            action=f"/admin/members/{member_id}" if member_id else "/admin/members/new",
        )
        return Template("orgadmin/member_form.html", context=context, status_code=status_code)

    @get("/members/new", sync_to_thread=True)
    def new_member(
        self, db: Db, principal: Actor, branch: FromQuery[RecordId | None] = None
    ) -> Template:
        require_admin(principal)
        return self._member_form(db, None, {**EMPTY_MEMBER, "branch_id": str(branch or "")}, {})

    @post("/members/new", sync_to_thread=True)
    def create_member(
        self, request: AnyRequest, db: Db, principal: Actor, data: FormData
    ) -> Template | Redirect:
        values = first_value(data)
        try:
            member_id = create_member(
                db,
                principal,
                parse_member(values, today=town_date(request)),
                now=utcnow(),
            )
        except InvalidInput as exc:
            db.rollback()
            return self._member_form(db, None, values, domain_field_errors(exc), 422)
        return Redirect(f"/admin/members/{member_id}?done=member_created", status_code=303)

    @get("/members/{member_id:str}", sync_to_thread=True)
    def edit_member(
        self,
        db: Db,
        principal: Actor,
        member_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        member = member_for_edit(db, principal, member_id)
        return self._member_form(
            db,
            member_id,
            member_values(member),
            {},
            branch_name=get_branch(db, member.branch_id).name,
            notice=notice(done, NOTICES),
        )

    @post("/members/{member_id:str}", sync_to_thread=True)
    def save_member(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        member_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        member = member_for_edit(db, principal, member_id)
        branch_id, branch_name = member.branch_id, get_branch(db, member.branch_id).name
        values = {**first_value(data), "branch_id": str(branch_id)}
        try:
            update_member(
                db,
                principal,
                member_id,
                parse_member(values, today=town_date(request)),
            )
        except InvalidInput as exc:
            db.rollback()
            return self._member_form(
                db, member_id, values, domain_field_errors(exc), 422, branch_name=branch_name
            )
        return Redirect(f"/admin/members/{member_id}?done=member_saved", status_code=303)

    # --- accounts --------------------------------------------------------------------

    @get("/accounts", sync_to_thread=True)
    def accounts(
        self,
        db: Db,
        principal: Actor,
        q: FromQuery[str] = "",
        page: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        result = list_accounts(db, principal, q, page_number(page))
        return Template(
            "orgadmin/accounts.html",
            context={
                "result": result,
                "q": q,
                "roles": labels(ROLE_LABELS),
                "notice": notice(done, NOTICES),
            },
        )

    def _account_new(
        self,
        db: Session,
        values: dict[str, Any],
        roles: RolesInput,
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        return Template(
            "orgadmin/account_new.html",
            context={
                "values": values,
                "errors": errors,
                "current": roles,
                "branches": branch_choices(db),
            },
            status_code=status_code,
        )

    @get("/accounts/new", sync_to_thread=True)
    def new_account(self, db: Db, principal: Actor) -> Template:
        require_admin(principal)
        values = {
            "username": "",
            "display_name": "",
            "member_code": "",
            "password": new_initial_password(),
        }
        return self._account_new(db, values, RolesInput(), {})

    @post("/accounts/new", sync_to_thread=True)
    def create_account(
        self, request: AnyRequest, db: Db, principal: Actor, data: FormData
    ) -> Template | Redirect:
        values = first_value(data)
        roles = _roles_from(data)
        try:
            account_id = create_account(db, principal, parse_account(values, roles))
        except InvalidInput as exc:
            db.rollback()
            return self._account_new(db, values, roles, domain_field_errors(exc), 422)
        return Redirect(f"/admin/accounts/{account_id}?done=account_created", status_code=303)

    def _account_page(
        self,
        db: Session,
        principal: Principal,
        account_id: int,
        *,
        notice: str | None = None,
        error: str | None = None,
        errors: dict[str, str] | None = None,
        password: str | None = None,
        issued: IssuedToken | None = None,
        token_values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        row = account_for_edit(db, principal, account_id)
        return Template(
            "orgadmin/account.html",
            # A page showing a new token's secret must not be kept by any cache.
            headers={"Cache-Control": "no-store"} if issued else None,
            context={
                "row": row,
                "current": current_roles(db, account_id),
                "branches": branch_choices(db),
                "roles": labels(ROLE_LABELS),
                "is_self": account_id == principal.account_id,
                "password": password or new_initial_password(),
                "errors": errors or {},
                "notice": notice,
                "error": error,
                "tokens": list_tokens(db, principal, account_id=account_id),
                "issued": issued,
                "token_values": token_values or {"name": "", "days": DEFAULT_LIFETIME_DAYS},
                "now": utcnow(),
            },
            status_code=status_code,
        )

    @get("/accounts/{account_id:str}", sync_to_thread=True)
    def account(
        self,
        db: Db,
        principal: Actor,
        account_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return self._account_page(db, principal, account_id, notice=notice(done, NOTICES))

    @post("/accounts/{account_id:str}/roles", sync_to_thread=True)
    def save_roles(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        account_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        try:
            set_roles(db, principal, account_id, _roles_from(data))
        except (InvalidInput, Conflict) as exc:
            db.rollback()
            message = (
                "; ".join(domain_field_errors(exc).values())
                if isinstance(exc, InvalidInput)
                else render(exc.message)
            )
            return self._account_page(db, principal, account_id, error=message, status_code=409)
        return Redirect(f"/admin/accounts/{account_id}?done=roles_saved", status_code=303)

    @post("/accounts/{account_id:str}/reset-password", sync_to_thread=True)
    def reset_password(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        account_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        password = str(first_value(data).get("password", ""))
        try:
            reset_password(db, principal, account_id, password, now=utcnow())
        except InvalidInput as exc:
            db.rollback()
            return self._account_page(
                db,
                principal,
                account_id,
                errors=domain_field_errors(exc),
                password=password,
                status_code=422,
            )
        return Redirect(f"/admin/accounts/{account_id}?done=password_reset", status_code=303)

    @post("/accounts/{account_id:str}/disable", sync_to_thread=True)
    def disable(
        self, request: AnyRequest, db: Db, principal: Actor, account_id: FromPath[RecordId]
    ) -> Template | Redirect:
        try:
            disable_account(db, principal, account_id, now=utcnow())
        except Conflict as exc:
            db.rollback()
            return self._account_page(
                db, principal, account_id, error=render(exc.message), status_code=409
            )
        return Redirect(f"/admin/accounts/{account_id}?done=disabled", status_code=303)

    @post("/accounts/{account_id:str}/enable", sync_to_thread=True)
    def enable(
        self, request: AnyRequest, db: Db, principal: Actor, account_id: FromPath[RecordId]
    ) -> Template | Redirect:
        try:
            enable_account(db, principal, account_id)
        except Conflict as exc:
            db.rollback()
            return self._account_page(
                db, principal, account_id, error=render(exc.message), status_code=409
            )
        return Redirect(f"/admin/accounts/{account_id}?done=enabled", status_code=303)

    @post("/accounts/{account_id:str}/end-sessions", sync_to_thread=True)
    def end_sessions(
        self, request: AnyRequest, db: Db, principal: Actor, account_id: FromPath[RecordId]
    ) -> Redirect:
        """Sign the account out everywhere now (a lost phone, a shared computer left
        signed in) without disabling it."""
        end_sessions_by_office(db, principal, account_id)
        done = "other_sessions_ended" if account_id == principal.account_id else "sessions_ended"
        return Redirect(f"/admin/accounts/{account_id}?done={done}", status_code=303)

    # --- API tokens ----------------------------------------------------------------

    @post("/accounts/{account_id:str}/tokens", sync_to_thread=True)
    def issue_api_token(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        account_id: FromPath[RecordId],
        data: FormData,
    ) -> Template:
        """Issue a token and show its secret on this answer alone: it is not stored, so
        no redirect could show it again (and it must not travel in a URL)."""
        values = first_value(data)
        token_values = {"name": str(values.get("name", "")), "days": str(values.get("days", ""))}
        try:
            days = parse_days(token_values["days"])
            issued = issue_token(
                db, principal, account_id, token_values["name"], days=days, now=utcnow()
            )
        except InvalidInput as exc:
            db.rollback()
            return self._account_page(
                db,
                principal,
                account_id,
                errors=domain_field_errors(exc),
                token_values=token_values,
                status_code=422,
            )
        except Conflict as exc:
            db.rollback()
            return self._account_page(
                db, principal, account_id, error=render(exc.message), status_code=409
            )
        return self._account_page(
            db,
            principal,
            account_id,
            issued=issued,
            notice=gettext(N_("The API token was issued.")),
        )

    @post("/accounts/{account_id:str}/tokens/{token_id:str}/revoke", sync_to_thread=True)
    def revoke_api_token(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        account_id: FromPath[RecordId],
        token_id: FromPath[RecordId],
    ) -> Template | Redirect:
        try:
            revoke_token(db, principal, token_id, now=utcnow(), account_id=account_id)
        except Conflict as exc:
            db.rollback()
            return self._account_page(
                db, principal, account_id, error=render(exc.message), status_code=409
            )
        return Redirect(f"/admin/accounts/{account_id}?done=token_revoked", status_code=303)


def _roles_from(data: dict[str, Any]) -> RolesInput:
    def many(name: str) -> list[str]:
        value = data.get(name, [])
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    return parse_roles(many("secretary"), many("instructor"), bool(data.get("admin")))
