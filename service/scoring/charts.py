"""Chart geometry for server-rendered SVG: pure functions, no database, no markup.

Templates draw the shapes these functions place; every number a chart shows is also in
the data table the template puts beside it, so the chart is never the only way to read
the figures. Coordinates are in the SVG's viewBox units: a viewBox 360 wide reads at
its natural size on a phone and scales up on a desktop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)
WIDTH = 360
PAD = 8.0
LABEL_LINE = 16.0
BAR_THICKNESS = 14.0
ROW_GAP = 10.0
COLUMN_AREA = 150.0
AXIS_LABEL = 16.0
VALUE_LABEL = 14.0


@dataclass(frozen=True)
class Datum:
    label: str
    value: Decimal
    short: str = ""  # what fits under a column; the label when empty

    @property
    def tick(self) -> str:
        return self.short or self.label


@dataclass(frozen=True)
class Bar:
    datum: Datum
    x: float
    y: float
    width: float
    height: float
    text_x: float  # where the bar's label (or value) is written
    text_y: float
    value_y: float  # columns only: where the value is written above (or below) the bar

    @property
    def negative(self) -> bool:
        return self.datum.value < 0


@dataclass(frozen=True)
class Tick:
    value: Decimal
    at: float  # x for horizontal bars, y for columns


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    horizontal: bool
    bars: tuple[Bar, ...]
    zero: float  # the x (horizontal) or y (columns) of the zero line
    ticks: tuple[Tick, ...]
    plot_start: float  # the plot area along the value axis
    plot_end: float

    @property
    def empty(self) -> bool:
        return not self.bars

    @property
    def data(self) -> tuple[Datum, ...]:
        return tuple(bar.datum for bar in self.bars)


def value_range(values: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """The span the value axis covers: always includes zero, so bars grow from a zero
    line and negative values (deductions) point the other way. All-zero or no data
    gives (0, 1), never an empty span to divide by."""
    low = min([ZERO, *values])
    high = max([ZERO, *values])
    if low == high:
        return ZERO, Decimal(1)
    return low, high


def linear_scale(
    low: Decimal, high: Decimal, start: float, end: float
) -> Callable[[Decimal], float]:
    """Map ``low``..``high`` onto ``start``..``end`` (``end`` may be below ``start``:
    SVG's y axis points down). Rounded to a hundredth of a unit."""
    if high <= low:
        raise ValueError("the value range must not be empty")
    span = float(high - low)

    def scale(value: Decimal) -> float:
        return round(start + (end - start) * float(value - low) / span, 2)

    return scale


def horizontal_bars(data: Sequence[Datum], *, width: float = WIDTH) -> Chart:
    """One row per datum: its label on a line, the bar under it. Positive bars grow to
    the right of the zero line, negative ones to the left."""
    low, high = value_range([datum.value for datum in data])
    scale = linear_scale(low, high, PAD, width - PAD)
    zero = scale(ZERO)
    row = LABEL_LINE + BAR_THICKNESS + ROW_GAP
    bars = []
    for index, datum in enumerate(data):
        top = PAD + index * row
        end = scale(datum.value)
        bars.append(
            Bar(
                datum=datum,
                x=min(zero, end),
                y=top + LABEL_LINE,
                width=round(abs(end - zero), 2),
                height=BAR_THICKNESS,
                text_x=PAD,
                text_y=top + LABEL_LINE - 4,
                value_y=top + LABEL_LINE - 4,
            )
        )
    height = PAD * 2 + len(bars) * row
    return Chart(
        width=width,
        height=height,
        horizontal=True,
        bars=tuple(bars),
        zero=zero,
        ticks=_ticks(low, high, scale),
        plot_start=PAD,
        plot_end=width - PAD,
    )


def column_chart(data: Sequence[Datum], *, width: float = WIDTH) -> Chart:
    """One column per datum, left to right (a trend over months): positive columns rise
    from the zero line, negative ones hang below it; the value is written at the
    column's end and the short label under the plot."""
    low, high = value_range([datum.value for datum in data])
    top = PAD + VALUE_LABEL
    bottom = top + COLUMN_AREA
    scale = linear_scale(low, high, bottom, top)
    zero = scale(ZERO)
    slot = (width - 2 * PAD) / len(data) if data else 0.0
    thickness = round(slot * 0.7, 2)
    bars = []
    for index, datum in enumerate(data):
        end = scale(datum.value)
        left = round(PAD + index * slot + (slot - thickness) / 2, 2)
        negative = datum.value < 0
        bars.append(
            Bar(
                datum=datum,
                x=left,
                y=min(zero, end),
                width=thickness,
                height=round(abs(end - zero), 2),
                text_x=round(PAD + index * slot + slot / 2, 2),
                text_y=bottom + VALUE_LABEL + AXIS_LABEL / 2,
                value_y=round(end + 11 if negative else end - 3, 2),
            )
        )
    return Chart(
        width=width,
        height=bottom + VALUE_LABEL + AXIS_LABEL + PAD,
        horizontal=False,
        bars=tuple(bars),
        zero=zero,
        ticks=_ticks(low, high, scale),
        plot_start=bottom,
        plot_end=top,
    )


def _ticks(low: Decimal, high: Decimal, scale: Callable[[Decimal], float]) -> tuple[Tick, ...]:
    values = sorted({low, ZERO, high})
    return tuple(Tick(value, scale(value)) for value in values)
