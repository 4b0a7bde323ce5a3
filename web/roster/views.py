"""The office's roster import (/admin/import) and member transfer pages
(/admin/members/{id}/transfer). Admins only.

The import is two steps: the upload runs a dry run and shows its report; "Apply"
re-checks and writes. Between the two the uploaded bytes are kept on the server in a
file named by the uploading account and the SHA-256 of the content, in the instance's
own directory (``JIFEN_ROSTER_UPLOAD_DIR``, mode 0700, refused unless it belongs to the
user running Jifen; files 0600); files there older than an hour are removed. The Apply
form sends only the digest: nothing the browser sends becomes a path (the digest must
be 64 hex characters), the content is re-hashed before use, so what is applied is
exactly what was checked, and it is checked again against the database as it is at
apply time. With several app hosts the directory must be shared (or the office uploads
again: a missing file says so).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.kernel.config import Settings
from service.kernel.errors import InvalidInput, NotFound
from service.kernel.files import UnsafeDirectory, owned_private_directory
from service.kernel.i18n import N_, Message
from service.people.roster_apply import apply_roster
from service.people.roster_file import (
    COLUMNS,
    EMPTY_RUN,
    HEADER_SCAN_ROWS,
    MAX_COLUMNS,
    MAX_ROWS,
    STATUS_CHINESE,
    RosterFileError,
    read_table,
    template_csv,
    template_xlsx,
)
from service.people.roster_import import ImportReport, import_roster
from service.people.transfers import member_history, transfer_member
from service.persistence.models import Branch, Member, Organisation
from service.persistence.types import utcnow
from web.deps import Actor, Db, RecordId, town_date
from web.forms import FormData, UploadData, domain_field_errors, first_value, parse_form
from web.guards import requires_admin
from web.i18n import gettext, render
from web.notices import notice

AnyRequest = Request[Any, Any, Any]
logger = logging.getLogger("jifen.web")

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# The body also carries the CSRF field and multipart framing.
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
KEEP_UPLOAD_SECONDS = 3600
DIGEST = re.compile(r"[0-9a-f]{64}")
# The page lists the first problems and changes (the report keeps up to
# roster_import.MAX_PROBLEMS problems; the CLI prints those).
SHOWN = 200

NOTICES = {
    "transferred": N_(
        "The transfer is recorded; the member's points count for the new branch from "
        "its effective date."
    ),
}
COLUMN_HINTS = {
    "code": N_("the member's number; the key that matches existing members"),
    "name": N_("full name"),
    "id_number": N_("18 characters, checked; format the column as text in Excel"),
    "phone": N_("11-digit mobile number"),
    "branch_code": N_(
        "the branch's number, e.g. B001, or its exact full name (a column 所在党支部 or "
        "党支部名称); a change of branch is a transfer"
    ),
    "organisation": N_("the name of an organisation the branch covers"),
    "status": N_("正式党员, 预备党员, 流动党员 or 免评"),
    "joined_party_on": N_("a date like 2010-07-01"),
}
STATUS_LABELS = {
    "full": N_("full member"),
    "probationary": N_("probationary member"),
    "mobile": N_("mobile member"),
    "exempt": N_("exempt"),
}


def upload_dir(settings: Settings) -> Path:
    """The instance's own directory for roster files (UnsafeDirectory if another user's)."""
    return owned_private_directory(settings.roster_upload_dir)


def _upload_path(directory: Path, account_id: int, digest: str) -> Path:
    assert DIGEST.fullmatch(digest)
    return directory / f"{account_id}-{digest}.upload"


def _keep(directory: Path, account_id: int, content: bytes) -> str:
    cutoff = time.time() - KEEP_UPLOAD_SECONDS
    # The directory is this instance's: whatever is old in it is an upload of ours
    # (or one a crash left half written).
    for old in [*directory.glob("*.upload"), *directory.glob("*.part")]:
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    digest = hashlib.sha256(content).hexdigest()
    path = _upload_path(directory, account_id, digest)
    fd, temporary = tempfile.mkstemp(dir=directory, suffix=".part")  # 0600
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.replace(temporary, path)
    return digest


def _kept(directory: Path, account_id: int, digest: str) -> bytes | None:
    if not DIGEST.fullmatch(digest):
        return None
    path = _upload_path(directory, account_id, digest)
    try:
        content = path.read_bytes()
    except OSError:
        return None
    return content if hashlib.sha256(content).hexdigest() == digest else None


@dataclass(frozen=True)
class ColumnDoc:
    english: str
    chinese: str
    required: bool
    hint: str
    # The other Chinese names the column is known by (an office's sheet has its own).
    aliases: str


def _columns() -> list[ColumnDoc]:
    return [
        ColumnDoc(
            c.key,
            c.chinese,
            c.required,
            gettext(COLUMN_HINTS[c.key]),
            ", ".join(alias for alias in c.aliases if not alias.isascii()),
        )
        for c in COLUMNS
    ]


def _import_page(
    *,
    report: ImportReport | None = None,
    error: str | None = None,
    filename: str = "",
    digest: str = "",
    status_code: int = 200,
) -> Template:
    # Only the problems shown are rendered.
    problems = [problem.render(gettext) for problem in report.problems[:SHOWN]] if report else []
    return Template(
        "roster/import.html",
        context={
            "columns": _columns(),
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
            "max_rows": f"{MAX_ROWS:,}",
            "max_columns": MAX_COLUMNS,
            "empty_run": f"{EMPTY_RUN:,}",
            "header_scan": HEADER_SCAN_ROWS,
            "report": report,
            "summary": render(report.summary()) if report else "",
            "notes": [render(note) for note in report.notes] if report else [],
            "problems": problems,
            "problem_count": report.problem_count if report else 0,
            "hidden_problems": max(0, report.problem_count - len(problems)) if report else 0,
            "changes": report.changes[:SHOWN] if report else [],
            "hidden_changes": max(0, len(report.changes) - SHOWN) if report else 0,
            "error": error,
            "filename": filename,
            "digest": digest,
        },
        status_code=status_code,
    )


def _cannot_keep(exc: Exception) -> Template:
    # The operator's to fix (the reason goes to the log); the office is told to ask.
    logger.error("roster upload directory refused: %s", exc)
    return _import_page(
        error=render(
            Message(
                N_(
                    "The server cannot keep the uploaded file for the import; tell the "
                    "operator (the server log says why)."
                )
            )
        ),
        status_code=503,
    )


def _read_upload(upload: UploadFile) -> bytes | None:
    """The uploaded bytes, or None when over the limit (reads at most limit + 1)."""
    content = upload.file.read(MAX_UPLOAD_BYTES + 1)
    return None if len(content) > MAX_UPLOAD_BYTES else content


class RosterImportController(Controller):
    path = "/admin/import"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=False)
    def form(self) -> Template:
        return _import_page()

    @post("/", request_max_body_size=MAX_BODY_BYTES, sync_to_thread=True)
    def upload(self, request: AnyRequest, principal: Actor, data: UploadData) -> Template:
        upload = data.get("roster")
        if isinstance(upload, list):
            upload = upload[0] if upload else None
        if not isinstance(upload, UploadFile):
            return _import_page(
                error=render(Message(N_("Choose a CSV or XLSX file to upload."))), status_code=422
            )
        content = _read_upload(upload)
        filename = (upload.filename or "")[:120]
        if content is None:
            return _import_page(
                error=render(
                    Message(
                        N_("The file is larger than %(max)s MB; split it."),
                        {"max": MAX_UPLOAD_BYTES // (1024 * 1024)},
                    )
                ),
                status_code=413,
            )
        try:
            table = read_table(content)
        except RosterFileError as exc:
            return _import_page(error=render(exc.message), filename=filename, status_code=422)
        try:
            directory = upload_dir(request.app.state.settings)
        except (UnsafeDirectory, OSError) as exc:
            return _cannot_keep(exc)
        digest = _keep(directory, principal.account_id, content)
        database = request.app.state.database
        with database.transaction(write=False) as session:
            # A dry run in a read transaction of its own: nothing is written.
            report = import_roster(session, table, apply=False)
        return _import_page(
            report=report,
            filename=filename,
            digest=digest if report.ok else "",
            status_code=200 if report.ok else 422,
        )

    @post("/apply", sync_to_thread=True)
    def apply(self, request: AnyRequest, principal: Actor, data: FormData) -> Template:
        form = first_value(data)
        digest = str(form.get("digest", ""))
        filename = str(form.get("filename", ""))[:120]
        try:
            directory = upload_dir(request.app.state.settings)
        except (UnsafeDirectory, OSError) as exc:
            return _cannot_keep(exc)
        content = _kept(directory, principal.account_id, digest)
        if content is None:
            return _import_page(
                error=render(
                    Message(N_("The uploaded file is no longer on the server; upload it again."))
                ),
                status_code=409,
            )
        try:
            table = read_table(content)
        except RosterFileError as exc:
            return _import_page(error=render(exc.message), status_code=422)
        # No request transaction: the check reads in a transaction of its own and the
        # rows are written in batches, each in its own short write transaction, so a
        # large file never holds the write lock long (service/people/roster_apply.py).
        settings = request.app.state.settings
        report = apply_roster(
            request.app.state.database,
            table,
            actor_id=principal.account_id,
            batch_rows=settings.import_batch_rows,
        )
        if report.applied:
            _upload_path(directory, principal.account_id, digest).unlink(missing_ok=True)
        return _import_page(
            report=report,
            filename=filename,
            digest="" if report.applied else digest,
            status_code=200 if report.applied else 422,
        )

    @get("/template.csv", sync_to_thread=False)
    def template_csv(self) -> Response[bytes]:
        return Response(
            template_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="roster-template.csv"'},
        )

    @get("/template.xlsx", sync_to_thread=True)
    def template_xlsx(self) -> Response[bytes]:
        return Response(
            template_xlsx(),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": 'attachment; filename="roster-template.xlsx"'},
        )


# --- transfers ----------------------------------------------------------------------------


class TransferForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    to_branch_id: int
    effective: date
    note: str = Field(default="", max_length=500)
    organisation_id: int | None = None
    mobile: bool = False


def _transfer_page(
    session: Session,
    member_id: int,
    *,
    today: date,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(Message(N_("No such member.")))
    branch = session.get(Branch, member.branch_id)
    assert branch is not None
    branches = session.execute(
        select(Branch.id, Branch.code, Branch.name).order_by(Branch.code)
    ).all()
    organisations = session.execute(
        select(Organisation.id, Organisation.name, Branch.code)
        .join(Branch, Branch.id == Organisation.branch_id)
        .order_by(Branch.code, Organisation.name)
    ).all()
    return Template(
        "roster/transfer.html",
        context={
            "member": member,
            "status_label": gettext(STATUS_LABELS[member.status.value]),
            "status_chinese": STATUS_CHINESE[member.status],
            "branch": branch,
            "branches": branches,
            "organisations": organisations,
            "history": member_history(session, member_id),
            "today": today.isoformat(),
            "values": values or {},
            "errors": errors or {},
            "notice": notice(done, NOTICES),
        },
        status_code=status_code,
    )


class TransferController(Controller):
    path = "/admin/members"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    @get("/{member_id:str}/transfer", sync_to_thread=True)
    def transfer_form(
        self,
        request: AnyRequest,
        db: Db,
        member_id: FromPath[RecordId],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return _transfer_page(db, member_id, today=town_date(request), done=done)

    @post("/{member_id:str}/transfer", sync_to_thread=True)
    def transfer(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        member_id: FromPath[RecordId],
        data: FormData,
    ) -> Template | Redirect:
        values = first_value(data)
        if values.get("organisation_id") == "":
            values["organisation_id"] = None
        values["mobile"] = values.get("mobile") == "1"
        today = town_date(request)
        form = parse_form(TransferForm, values)
        if isinstance(form, dict):
            return _transfer_page(
                db, member_id, today=today, values=values, errors=form, status_code=422
            )
        try:
            transfer_member(
                db,
                principal,
                member_id,
                form.to_branch_id,
                form.effective,
                form.note,
                today=today,
                now=utcnow(),
                mobile=form.mobile,
                organisation_id=form.organisation_id,
            )
        except InvalidInput as exc:
            db.rollback()
            return _transfer_page(
                db,
                member_id,
                today=today,
                values=values,
                errors=domain_field_errors(exc),
                status_code=422,
            )
        return Redirect(f"/admin/members/{member_id}/transfer?done=transferred", status_code=303)
