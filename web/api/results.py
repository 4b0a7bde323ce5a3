"""The published results lists through the API: every list (red lists, 优秀 members,
branch stars), newest first, and one list's lines in rank order. Only the public fields
of the notice: name, branch, value, label, rank (and a stars list's stars)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from pydantic import BaseModel, Field

from service.persistence.models import PublicationKind
from service.persistence.types import utcnow
from service.publication.result_views import (
    ListHeader,
    list_header,
    result_kind,
    results_index,
    stars_of,
    whole_list,
)
from service.publication.results import ResultLine
from web.api.common import NOT_FOUND, READ_SECURITY, TOO_MANY_TOKENS, UNAUTHORIZED
from web.deps import Db

Kind = Annotated[
    str,
    PathParameter(
        description="The kind of list: red_list, excellent or branch_stars.",
        schema_extra={"examples": ["branch_stars"]},
    ),
]
ListPeriod = Annotated[
    str,
    PathParameter(
        description="The list's period as published: a year (2025), a quarter (2026-Q1) "
        "or a month (2026-03).",
        schema_extra={"examples": ["2025"]},
    ),
]


class ResultListOut(BaseModel):
    kind: str = Field(examples=["branch_stars"])
    period: str = Field(examples=["2025"])
    published_at: str = Field(description="When it was published (ISO 8601, UTC).")
    window_ends_at: str = Field(description="When its notice period ends (ISO 8601, UTC).")
    final: bool = Field(description="Whether the notice period has closed.")
    lines: int = Field(description="How many lines the list has.")
    digest: str = Field(description="The SHA-256 digest of the list in the chain.")

    @classmethod
    def of(cls, header: ListHeader) -> ResultListOut:
        return cls(
            kind=header.kind.value,
            period=header.period,
            published_at=header.published_at.isoformat(),
            window_ends_at=header.window_ends_at.isoformat(),
            final=header.final,
            lines=header.lines,
            digest=header.digest,
        )


class ResultLists(BaseModel):
    lists: list[ResultListOut]


class ResultLineOut(BaseModel):
    rank: int | None = Field(description="The line's rank on the list; ties share one.")
    subject_id: int = Field(description="The member's id, or the branch's on a stars list.")
    code: str
    name: str
    branch_id: int
    branch_name: str
    value: str = Field(description="Points or a score as published, e.g. 91.5.")
    label: str = Field(description="red, excellent, or a branch's stars (4).")
    stars: int | None = Field(description="A stars list's stars; null on other lists.")

    @classmethod
    def of(cls, line: ResultLine, *, with_stars: bool) -> ResultLineOut:
        return cls(
            rank=line.rank,
            subject_id=line.subject_id,
            code=line.code,
            name=line.name,
            branch_id=line.branch_id,
            branch_name=line.branch_name,
            value=line.value,
            label=line.label,
            stars=stars_of(line) if with_stars else None,
        )


class ResultListBody(BaseModel):
    kind: str = Field(examples=["branch_stars"])
    period: str = Field(examples=["2025"])
    published_at: str = Field(description="When it was published (ISO 8601, UTC).")
    window_ends_at: str = Field(description="When its notice period ends (ISO 8601, UTC).")
    final: bool = Field(description="Whether the notice period has closed.")
    digest: str = Field(description="The SHA-256 digest of the list in the chain.")
    intact: bool = Field(
        description="Whether the stored lines still give the digest and the link to the "
        "publication before holds."
    )
    lines: list[ResultLineOut] = Field(description="In rank order, then by code.")


class ResultsApiController(Controller):
    path = "/results"
    tags = ["results"]  # noqa: RUF012 - Litestar's class attribute

    @get(
        "/",
        sync_to_thread=True,
        summary="The published results lists, newest first",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS},
    )
    def lists(self, db: Db) -> ResultLists:
        index = results_index(db, now=utcnow())
        headers = sorted(
            (header for kind_lists in index.values() for header in kind_lists),
            key=lambda header: (header.published_at, header.publication_id),
            reverse=True,
        )
        return ResultLists(lists=[ResultListOut.of(header) for header in headers])

    @get(
        "/{kind:str}/{period:str}",
        sync_to_thread=True,
        summary="One published results list, its lines in rank order",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 404: NOT_FOUND},
    )
    def one(self, db: Db, kind: Kind, period: ListPeriod) -> ResultListBody:
        found = result_kind(kind)
        header = None if found is None else list_header(db, found, period, now=utcnow())
        if header is None:
            raise NotFoundException()
        with_stars = header.kind is PublicationKind.BRANCH_STARS
        return ResultListBody(
            kind=header.kind.value,
            period=header.period,
            published_at=header.published_at.isoformat(),
            window_ends_at=header.window_ends_at.isoformat(),
            final=header.final,
            digest=header.digest,
            intact=bool(header.intact),
            lines=[
                ResultLineOut.of(line, with_stars=with_stars) for line in whole_list(db, header)
            ],
        )
