"""What the board pages and their exports share: the span an address names, the sorts of
the branches board and the stars of a year board."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from litestar import Request
from litestar.exceptions import NotFoundException

from service.boards.board import BoardPeriod, MemberLine, SpanKind, parse_board_period
from service.boards.live import max_stars, public_stars
from service.kernel.errors import InvalidInput
from service.scoring.ranking import Ranked
from service.scoring.rules import Rulebook
from web.deps import town_date

Sort = Literal["total", "per_member", "participation"]


def checked_span(period: str) -> BoardPeriod:
    """A month, a quarter or a year, or 404."""
    try:
        return parse_board_period(period)
    except InvalidInput as exc:
        raise NotFoundException() from exc


def year_stars(
    request: Request[Any, Any, Any],
    rulebook: Rulebook,
    span: BoardPeriod,
    ranked: Iterable[Ranked[MemberLine]],
) -> tuple[dict[int, int] | None, int]:
    """Stars show on year boards only (the thresholds are on the yearly score)."""
    if span.kind is not SpanKind.YEAR:
        return None, 0
    today = town_date(request)
    return (
        public_stars(ranked, rulebook, span.year, as_of=today),
        max_stars(rulebook, span.year, as_of=today),
    )
