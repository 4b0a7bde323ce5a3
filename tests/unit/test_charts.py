"""Chart geometry: bars scale to the largest value, deductions point the other way from
the zero line, and empty or all-zero data still make a drawable chart."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.scoring.charts import (
    PAD,
    WIDTH,
    Datum,
    column_chart,
    horizontal_bars,
    linear_scale,
    value_range,
)


def near(value: float) -> object:
    """Coordinates are rounded to a hundredth of a unit."""
    return pytest.approx(value, abs=0.011)


def d(label: str, value: str) -> Datum:
    return Datum(label, Decimal(value))


def test_the_largest_bar_spans_the_plot_and_the_others_scale_with_it() -> None:
    chart = horizontal_bars([d("金湾", "40"), d("宝元", "10"), d("飞鹰", "20")])
    plot = WIDTH - 2 * PAD
    widths = [bar.width for bar in chart.bars]
    assert widths == [near(plot), near(plot / 4), near(plot / 2)]
    assert all(bar.x == chart.zero == PAD for bar in chart.bars)  # all grow from zero
    assert [bar.datum.label for bar in chart.bars] == ["金湾", "宝元", "飞鹰"]  # order kept
    # Rows do not overlap and the chart is tall enough for all of them.
    tops = [bar.y for bar in chart.bars]
    assert tops == sorted(tops) and len(set(tops)) == 3
    assert chart.height >= chart.bars[-1].y + chart.bars[-1].height


def test_deductions_extend_left_of_the_zero_line() -> None:
    chart = horizontal_bars([d("基础", "30"), d("奖励", "60"), d("扣分", "-30")])
    basic, reward, deduction = chart.bars
    plot = WIDTH - 2 * PAD
    # The axis runs from -30 to 60: zero sits a third of the way along.
    assert chart.zero == near(PAD + plot / 3)
    assert deduction.negative and not reward.negative
    assert deduction.x + deduction.width == near(chart.zero)  # ends at zero
    assert deduction.x == near(PAD)
    assert basic.x == near(chart.zero)
    assert reward.x + reward.width == near(WIDTH - PAD)
    assert deduction.width == near(basic.width)  # same size, other side
    assert [tick.value for tick in chart.ticks] == [Decimal(-30), 0, Decimal(60)]


def test_negative_columns_hang_below_the_zero_line() -> None:
    chart = column_chart([d("2026-01", "8"), d("2026-02", "-2"), d("2026-03", "0")])
    january, february, march = chart.bars
    assert january.y + january.height == near(chart.zero)  # rises to zero
    assert february.y == near(chart.zero)  # hangs from zero
    assert january.height == near(4 * february.height)
    assert march.height == 0
    assert february.value_y > february.y + february.height  # value written under it
    assert january.value_y < january.y  # and above a rising column
    assert january.x < february.x < march.x  # left to right in month order


def test_no_data_is_an_empty_chart_not_an_error() -> None:
    for chart in (horizontal_bars([]), column_chart([])):
        assert chart.empty
        assert chart.bars == ()
        assert chart.height > 0


def test_all_zero_values_draw_flat_bars_on_a_usable_axis() -> None:
    assert value_range([Decimal(0), Decimal(0)]) == (0, 1)
    chart = column_chart([d("1", "0"), d("2", "0")])
    assert [bar.height for bar in chart.bars] == [0, 0]
    assert not chart.empty


def test_a_scale_refuses_an_empty_range() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        linear_scale(Decimal(1), Decimal(1), 0, 100)


def test_the_short_label_goes_under_a_column() -> None:
    chart = column_chart([Datum("2026-07", Decimal(3), short="7")])
    assert chart.bars[0].datum.tick == "7"
    assert Datum("2026-07", Decimal(3)).tick == "2026-07"


values = st.decimals(min_value=-1000, max_value=1000, places=1, allow_nan=False)


@given(st.lists(values, max_size=15))
def test_every_bar_stays_inside_the_chart(numbers: list[Decimal]) -> None:
    for chart in (
        horizontal_bars([Datum(str(i), n) for i, n in enumerate(numbers)]),
        column_chart([Datum(str(i), n) for i, n in enumerate(numbers)]),
    ):
        for bar in chart.bars:
            assert bar.width >= 0 and bar.height >= 0
            assert bar.x >= PAD - 0.01 and bar.x + bar.width <= chart.width - PAD + 0.01
            assert bar.y >= 0 and bar.y + bar.height <= chart.height
            # Every bar touches the zero line: it starts or ends there.
            if chart.horizontal:
                assert chart.zero in (near(bar.x), near(bar.x + bar.width))
            else:
                assert chart.zero in (near(bar.y), near(bar.y + bar.height))
