"""The appraisal's computations (民主评议党员): the score's weights add up, 优秀 stays within
its share for every branch size, a veto dominates, and the order of the lines changes no
suggestion."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from service.scoring.appraisal import (
    AppraisalGrade,
    DecidedLine,
    Problem,
    ScoredLine,
    appraisal_score,
    check_sheet,
    excellent_cap,
    suggest,
)
from service.scoring.policies import AppraisalPolicy

G = AppraisalGrade


def policy(points_weight: int = 80, share: str = "1/3") -> AppraisalPolicy:
    inputs = (
        []
        if points_weight == 100
        else [
            {"id": "self_review", "name_zh": "自评", "name_en": "Self", "weight": 20},
            {"id": "mutual", "name_zh": "互评", "name_en": "Mutual", "max": 10, "weight": 40},
            {
                "id": "branch_grade",
                "name_zh": "支部评定",
                "name_en": "Branch",
                "kind": "grade",
                "weight": 40,
            },
        ]
    )
    return AppraisalPolicy.model_validate(
        {
            "points_weight": points_weight,
            "points_full": 96,
            "input": inputs,
            "excellent_max_share": share,
        }
    )


Inputs = dict[str, Decimal | AppraisalGrade | str]
FULL: Inputs = {
    "self_review": Decimal(100),
    "mutual": Decimal(10),
    "branch_grade": G.EXCELLENT,
}
scores = st.decimals(min_value=0, max_value=100, places=1)


@given(
    weight=st.sampled_from([0, 20, 50, 80, 100]),
    points=st.decimals(min_value=96, max_value=500, places=1),
)
def test_full_points_and_full_inputs_give_exactly_100(weight: int, points: Decimal) -> None:
    assert appraisal_score(policy(weight), points, FULL) == Decimal("100.0")


@given(weight=st.sampled_from([0, 20, 50, 80]))
def test_nothing_gives_zero_and_the_weights_split_the_score(weight: int) -> None:
    nothing: Inputs = {
        "self_review": Decimal(0),
        "mutual": Decimal(0),
        "branch_grade": G.UNQUALIFIED,
    }
    assert appraisal_score(policy(weight), Decimal(0), nothing) == Decimal("0.0")
    # Full points and empty inputs: exactly the points' weight.
    assert appraisal_score(policy(weight), Decimal(96), nothing) == Decimal(weight)


def test_a_worked_example_rounds_half_up() -> None:
    # 80 % × 48/96 = 40; inputs (20 %): 0.2 × (0.2 × 85 + 0.4 × 75 + 0.4 × 80) = 15.8.
    inputs: Inputs = {
        "self_review": Decimal(85),
        "mutual": Decimal("7.5"),
        "branch_grade": G.QUALIFIED,
    }
    assert appraisal_score(policy(80), Decimal(48), inputs) == Decimal("55.8")
    # 0.2 × 20 % × 90.25 = 3.61 rounds to 3.6 (half-up at one decimal).
    inputs = {
        "self_review": Decimal("90.3"),
        "mutual": Decimal(0),
        "branch_grade": G.UNQUALIFIED,
    }
    assert appraisal_score(policy(80), Decimal(0), inputs) == Decimal("3.6")


def test_a_missing_input_leaves_the_score_open() -> None:
    assert appraisal_score(policy(80), Decimal(50), {"self_review": Decimal(90)}) is None
    bad: Inputs = {**FULL, "branch_grade": "seven"}
    assert appraisal_score(policy(80), Decimal(50), bad) is None


@given(n=st.integers(min_value=1, max_value=60), data=st.data())
def test_excellent_never_exceeds_a_third_for_any_branch_size(n: int, data: st.DataObject) -> None:
    rules = policy()
    values = data.draw(st.lists(scores, min_size=n, max_size=n))
    lines = [ScoredLine(key=i, score=value) for i, value in enumerate(values)]
    suggested = suggest(rules, lines)
    excellent = [key for key, grade in suggested.items() if grade is G.EXCELLENT]
    assert len(excellent) <= excellent_cap(rules, n) == (n // 3)
    assert len(excellent) <= Fraction(n, 3)
    # Those who got 优秀 outscore every eligible one who did not.
    passed_over = [
        values[key]
        for key, grade in suggested.items()
        if grade is G.QUALIFIED and values[key] >= 90
    ]
    for key in excellent:
        assert all(values[key] > other for other in passed_over)


def test_a_tie_at_the_boundary_is_left_out_whole() -> None:
    rules = policy()  # 6 members: at most 2 优秀
    values = [Decimal(98), Decimal(95), Decimal(95), Decimal(92), Decimal(80), Decimal(50)]
    suggested = suggest(rules, [ScoredLine(key=i, score=v) for i, v in enumerate(values)])
    assert [suggested[i] for i in range(6)] == [
        G.EXCELLENT,
        G.QUALIFIED,
        G.QUALIFIED,
        G.QUALIFIED,
        G.QUALIFIED,
        G.UNQUALIFIED,
    ]


@given(data=st.data(), n=st.integers(min_value=1, max_value=40))
def test_a_veto_always_dominates(data: st.DataObject, n: int) -> None:
    values = data.draw(st.lists(st.one_of(st.none(), scores), min_size=n, max_size=n))
    vetoes = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    lines = [
        ScoredLine(key=i, score=v, veto=veto)
        for i, (v, veto) in enumerate(zip(values, vetoes, strict=True))
    ]
    suggested = suggest(policy(), lines)
    for line in lines:
        if line.veto:
            assert suggested[line.key] is G.UNQUALIFIED
        elif line.score is None:
            assert suggested[line.key] is None
    # A vetoed line cannot be decided anything else, even with a reason.
    for line in lines:
        if line.veto:
            decided = DecidedLine(
                key=line.key,
                score=line.score,
                suggested=G.UNQUALIFIED,
                grade=G.QUALIFIED,
                veto=True,
                departure_reason="a good year otherwise",
            )
            assert check_sheet(policy(), [decided]).lines == {line.key: Problem.VETO_FORCES}


@given(data=st.data(), n=st.integers(min_value=1, max_value=40))
def test_shuffling_the_lines_changes_no_suggestion(data: st.DataObject, n: int) -> None:
    values = data.draw(
        st.lists(
            st.sampled_from([Decimal(v) for v in (99, 95, 92, 90, 85, 60, 40)]),
            min_size=n,
            max_size=n,
        )
    )
    vetoes = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    lines = [
        ScoredLine(key=i, score=v, veto=veto)
        for i, (v, veto) in enumerate(zip(values, vetoes, strict=True))
    ]
    shuffled = data.draw(st.permutations(lines))
    assert suggest(policy(), lines) == suggest(policy(), shuffled)


def test_the_check_names_each_line_and_the_cap() -> None:
    rules = policy()  # 3 lines: 1 优秀 at most
    lines = [
        DecidedLine(key="a", score=Decimal(95), suggested=G.EXCELLENT, grade=G.EXCELLENT),
        DecidedLine(key="b", score=Decimal(80), suggested=G.QUALIFIED, grade=G.EXCELLENT),
        DecidedLine(key="c", score=None, suggested=None, grade=None),
    ]
    check = check_sheet(rules, lines)
    assert check.lines == {"b": Problem.NEEDS_REASON, "c": Problem.INCOMPLETE}
    assert check.too_many_excellent and check.excellent == 2 and check.cap == 1
    fixed = [
        lines[0],
        DecidedLine(
            key="b",
            score=Decimal(80),
            suggested=G.QUALIFIED,
            grade=G.BASIC,
            departure_reason="Missed three theme days",
        ),
        DecidedLine(key="c", score=None, suggested=G.UNQUALIFIED, grade=G.UNQUALIFIED, veto=True),
    ]
    assert check_sheet(rules, fixed).ok
