"""When a transfer may take effect (service/people/transfers.py), decided without a
database: never in the future, after the member's current stay began, after every
published month."""

from __future__ import annotations

from datetime import date

from service.people.transfers import effective_date_problem

TODAY = date(2026, 12, 7)


def test_today_and_earlier_days_are_fine() -> None:
    assert effective_date_problem(TODAY, today=TODAY, current_since=None, published=()) is None
    assert (
        effective_date_problem(date(2026, 11, 2), today=TODAY, current_since=None, published=())
        is None
    )


def test_a_day_in_the_future_is_refused() -> None:
    problem = effective_date_problem(
        date(2026, 12, 8), today=TODAY, current_since=None, published=()
    )
    assert problem is not None and "future" in problem.msgid


def test_a_day_on_or_before_the_current_stay_is_refused() -> None:
    since = date(2026, 10, 1)
    for day in (since, date(2026, 9, 30)):
        problem = effective_date_problem(day, today=TODAY, current_since=since, published=())
        assert problem is not None and problem.params == {"day": "2026-10-01"}
    assert (
        effective_date_problem(date(2026, 10, 2), today=TODAY, current_since=since, published=())
        is None
    )


def test_a_day_in_or_before_a_published_month_is_refused_naming_the_first() -> None:
    published = {"2026-09", "2026-10"}
    for day, month in [(date(2026, 10, 31), "2026-10"), (date(2026, 8, 15), "2026-09")]:
        problem = effective_date_problem(day, today=TODAY, current_since=None, published=published)
        assert problem is not None and problem.params == {"period": month}
    assert (
        effective_date_problem(
            date(2026, 11, 1), today=TODAY, current_since=None, published=published
        )
        is None
    )
