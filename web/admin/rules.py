"""The scoring rules page (/admin/rules): the versions in force with where each comes
from and its digest, a candidate's check and what-if preview, adopting it, and the
export of any version as its exact TOML bytes. Admins only; the services check it too.

The preview reads in a transaction of its own (like the ledger check) so a long preview
does not hold the write lock a POST's request transaction takes. Adopting writes in the
request's transaction: the row, its audit line and the rescore of the open months.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from service.kernel.errors import Conflict, InvalidInput
from service.kernel.i18n import N_, Message
from service.kernel.periods import parse_period
from service.ledger.adoption import (
    MAX_TOML_CHARS,
    RulebookCache,
    adopt_ruleset,
    check_candidate,
    digest_of,
    export_version,
    published_refusal,
    version_sources,
)
from service.ledger.preview import Preview, PreviewLine, preview_ruleset
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook, RulesError
from web.deps import Actor, Db, Rules, town_date
from web.forms import FormData, UploadData, domain_field_errors, first_value
from web.guards import requires_admin
from web.i18n import render
from web.notices import notice

AnyRequest = Request[Any, Any, Any]

# Names the pasted text in problem lines, where a file check names the file.
CANDIDATE_SOURCE = "candidate"
MAX_CANDIDATE_CHARS = MAX_TOML_CHARS
# The form's body: the TOML (as a file or pasted) twice at most, and the framing.
MAX_BODY_BYTES = 4 * MAX_CANDIDATE_CHARS + 64 * 1024

NOTICES = {
    "adopted": N_("The new version is adopted; it scores from its effective date on."),
}


@dataclass(frozen=True)
class MonthPreview:
    period: str
    points_before: Any
    points_after: Any
    members_affected: int
    lines: list[PreviewLine]


@dataclass(frozen=True)
class Candidate:
    """A candidate that passed the checks, with what the adoption form carries."""

    text: str
    source: str
    digest: str
    encoded: str  # base64 of the exact UTF-8 bytes: a form field keeps them unchanged
    refusal: str | None  # why it cannot be adopted (a published month), translated


def _database(request: AnyRequest) -> Database:
    database: Database = request.app.state.database
    return database


def _files(request: AnyRequest) -> Rulebook:
    cache: RulebookCache = request.app.state.rulebook
    return cache.files


def _months(preview: Preview) -> list[MonthPreview]:
    return [
        MonthPreview(
            period=total.period,
            points_before=total.points_before,
            points_after=total.points_after,
            members_affected=total.members_affected,
            lines=[line for line in preview.lines if line.period == total.period],
        )
        for total in preview.month_totals
    ]


def _rules_page(
    request: AnyRequest,
    principal: Actor,
    rulebook: Rulebook,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problems: list[str] | None = None,
    preview: Preview | None = None,
    candidate: Candidate | None = None,
    notice_text: str | None = None,
    status_code: int = 200,
) -> Template:
    today = town_date(request)
    in_force = rulebook.in_force(today)
    with _database(request).transaction(write=False) as session:
        sources = version_sources(session, principal, request.app.state.settings.rules_dir)
    return Template(
        "admin/rules.html",
        context={
            "rulesets": list(reversed(rulebook.rulesets)),
            "sources": sources,
            "in_force": in_force.version if in_force else None,
            "today": today,
            "values": values or {},
            "errors": errors or {},
            "problems": problems or [],
            "preview": preview,
            "candidate": candidate,
            "months": _months(preview) if preview else [],
            "max_chars": MAX_CANDIDATE_CHARS,
            "notice": notice_text,
        },
        status_code=status_code,
    )


def _uploaded(data: dict[str, Any]) -> UploadFile | None:
    upload = data.get("file")
    if isinstance(upload, list):
        upload = upload[0] if upload else None
    if isinstance(upload, UploadFile) and upload.filename:
        return upload
    return None


def _checked_preview(
    request: AnyRequest,
    principal: Actor,
    rulebook: Rulebook,
    text: str,
    source: str,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    """The candidate checked as ``jifen rules check`` checks it and previewed as
    ``jifen rules preview`` previews it; the adoption form only for an adoptable one."""
    month = values.get("month", "")
    try:
        ruleset = check_candidate(rulebook, text, source)
        with _database(request).transaction(write=False) as session:
            refusal = published_refusal(session, ruleset)
            result = preview_ruleset(
                session,
                rulebook,
                ruleset,
                months=[month] if month else None,
                today=town_date(request),
            )
    except RulesError as exc:
        return _rules_page(
            request, principal, rulebook, values=values, problems=exc.problems, status_code=422
        )
    candidate = Candidate(
        text=text,
        source=source,
        digest=digest_of(text),
        encoded=base64.b64encode(text.encode("utf-8")).decode("ascii"),
        refusal=render(refusal) if refusal else None,
    )
    return _rules_page(
        request,
        principal,
        rulebook,
        values=values,
        errors=errors,
        preview=result,
        candidate=candidate,
        status_code=status_code,
    )


class RulesController(Controller):
    path = "/admin/rules"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def rules(
        self,
        request: AnyRequest,
        principal: Actor,
        rulebook: Rules,
        done: FromQuery[str | None] = None,
    ) -> Template:
        return _rules_page(request, principal, rulebook, notice_text=notice(done, NOTICES))

    @post("/preview", request_max_body_size=MAX_BODY_BYTES, sync_to_thread=True)
    def preview(
        self, request: AnyRequest, principal: Actor, rulebook: Rules, data: UploadData
    ) -> Template:
        form = first_value(data)
        upload = _uploaded(data)
        candidate_text = str(form.get("candidate", "")) if upload is None else ""
        source = CANDIDATE_SOURCE
        month = str(form.get("month", "")).strip()
        errors: dict[str, str] = {}
        if upload is not None:
            source = (upload.filename or CANDIDATE_SOURCE)[:120]
            content = upload.file.read(4 * MAX_CANDIDATE_CHARS + 1)
            try:
                candidate_text = content.decode("utf-8")
            except UnicodeDecodeError:
                errors["candidate"] = render(
                    Message(
                        N_("This file is not UTF-8 text; save it as UTF-8 and upload it again.")
                    )
                )
        values = {"candidate": candidate_text, "month": month}
        if not errors and not candidate_text.strip():
            errors["candidate"] = render(
                Message(N_("Paste the candidate ruleset (TOML) here, or choose its file."))
            )
        elif len(candidate_text) > MAX_CANDIDATE_CHARS:
            errors["candidate"] = render(
                Message(
                    N_("This text is too long (at most %(max)s characters)."),
                    {"max": f"{MAX_CANDIDATE_CHARS:,}"},
                )
            )
        if month:
            try:
                parse_period(month)
            except InvalidInput as exc:
                errors["month"] = render(exc.errors["period"])
        if errors:
            return _rules_page(
                request, principal, rulebook, values=values, errors=errors, status_code=422
            )
        return _checked_preview(request, principal, rulebook, candidate_text, source, values)

    @post("/adopt", request_max_body_size=MAX_BODY_BYTES, sync_to_thread=True)
    def adopt(
        self, request: AnyRequest, db: Db, principal: Actor, rulebook: Rules, data: FormData
    ) -> Template | Redirect:
        form = first_value(data)
        reason = str(form.get("reason", ""))
        source = str(form.get("source", CANDIDATE_SOURCE))[:120] or CANDIDATE_SOURCE
        try:
            text = base64.b64decode(str(form.get("candidate_b64", "")), validate=True).decode()
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
            text = ""
        values = {"candidate": text, "reason": reason}
        if not text.strip():
            errors = {"candidate": render(Message(N_("Preview the ruleset again, then adopt it.")))}
            return _rules_page(
                request, principal, rulebook, values=values, errors=errors, status_code=422
            )
        try:
            adopt_ruleset(
                db,
                principal,
                _files(request),
                text,
                reason=reason,
                now=utcnow(),
                today=town_date(request),
                source=source,
            )
        except (InvalidInput, RulesError, Conflict) as exc:
            # Nothing was written: the request's transaction rolls back.
            db.rollback()
            if isinstance(exc, RulesError):
                return _rules_page(
                    request,
                    principal,
                    rulebook,
                    values=values,
                    problems=exc.problems,
                    status_code=422,
                )
            # A published month: the preview page says so in place of the adoption form.
            errors = domain_field_errors(exc) if isinstance(exc, InvalidInput) else {}
            return _checked_preview(
                request,
                principal,
                rulebook,
                text,
                source,
                values,
                errors=errors,
                status_code=422 if isinstance(exc, InvalidInput) else 409,
            )
        return Redirect("/admin/rules?done=adopted", status_code=303)

    @get("/versions/{version:str}/toml", sync_to_thread=True)
    def export(
        self, request: AnyRequest, db: Db, principal: Actor, version: FromPath[str]
    ) -> Response[bytes]:
        """The version's TOML, byte for byte as in the folder or as adopted."""
        rules_dir = request.app.state.settings.rules_dir
        _name, content = export_version(db, principal, rules_dir, version)
        # A version that exists has a checked name (A-Z a-z 0-9 . _ -): safe in the header.
        return Response(
            content,
            media_type="application/toml",
            headers={"Content-Disposition": f'attachment; filename="{version}.toml"'},
        )
