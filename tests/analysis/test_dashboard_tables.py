"""The dashboard's pure parts: blinding, tables from aggregate rows, figures."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from studyapp.analysis import plots
from studyapp.analysis.blinding import ArmInfo, arm_views, letter_for
from studyapp.analysis.dashboard import (
    AnswerCell,
    LevelInfo,
    MentionRow,
    ScenarioInfo,
    build_dashboard,
    confusion_matrices,
    distance_distribution,
    scenario_matrix,
)

ARMS = [
    ArmInfo(1, "control", "control", "Own sources", None, None, False),
    ArmInfo(2, "gpt4o", "llm", "AI assistant", "openai", "gpt-4o", False),
    ArmInfo(3, "llama", "llm", "AI assistant", "vllm", "llama-3-70b", False),
]
LEVELS = [
    LevelInfo(4, "ambulance", "Ambulance"),
    LevelInfo(3, "ae", "A&E"),
    LevelInfo(0, "self", "Self"),
]
SCENARIOS = [ScenarioInfo(10, "belly", 1, "Belly"), ScenarioInfo(11, "back", 2, "Back")]


def test_letters_run_a_to_z_then_aa():
    assert [letter_for(i) for i in (0, 1, 25, 26, 27, 51, 52)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "AZ",
        "BA",
    ]


def test_an_arm_keeps_its_letter_blinded_or_not_and_in_any_order():
    unblinded = arm_views(ARMS, blinded=False, salt="s")
    blinded = arm_views(list(reversed(ARMS)), blinded=True, salt="s")
    assert [v.key for v in unblinded] == ["control", "gpt4o", "llama"]
    assert {v.id: v.letter for v in unblinded} == {v.id: v.letter for v in blinded}
    assert [v.name for v in blinded] == ["A", "B", "C"]


def test_a_blinded_arm_carries_nothing_that_identifies_it():
    for view in arm_views(ARMS, blinded=True, salt="s"):
        assert (view.key, view.kind, view.label, view.endpoint, view.model) == (
            "",
            "",
            "",
            None,
            None,
        )
        assert view.name == view.letter
        assert not view.is_control


def test_the_letter_order_depends_on_the_salt_not_on_the_keys():
    orders = {
        tuple(v.id for v in arm_views(ARMS, blinded=True, salt=str(seed))) for seed in range(40)
    }
    assert len(orders) > 1


def cell(arm, scenario, answer, gold, correct, n=1):
    return AnswerCell(arm, scenario, answer, gold, correct, n, 50 * n)


CELLS = [
    cell(1, 10, 3, 3, True, 4),
    cell(1, 10, 4, 3, False, 1),  # over by one
    cell(1, 11, 0, 0, None, 2),  # not scored yet
    cell(2, 10, 0, 3, True, 3),  # under by three
    cell(2, 11, 3, 0, False, 1),  # over by three
]


def views():
    return arm_views(ARMS, blinded=False, salt="s")


def test_the_summaries_leave_unscored_answers_out_of_the_condition_figures():
    dashboard = build_dashboard(
        arms=views(),
        scenarios=SCENARIOS,
        levels=LEVELS,
        cells=CELLS,
        participants={1: 4, 2: 2},
        mentions=[MentionRow(2, 4, 3, 1, 2, 1)],
        transcripts_pending=0,
        generated_at="now",
    )
    control, gpt, llama = dashboard.summaries
    assert (control.answers, control.disposition.successes) == (7, 6)
    assert (control.conditions.successes, control.conditions.n, control.unscored) == (4, 5, 2)
    assert (gpt.over.successes, gpt.under.successes) == (1, 3)
    assert llama.answers == 0 and llama.disposition.value is None
    assert dashboard.reference.key == "control"
    assert gpt.disposition_vs_reference is not None
    assert llama.disposition_vs_reference is None  # nothing to compare
    assert dashboard.unscored == 2
    (mention,) = dashboard.mentions
    assert (mention.arm.key, mention.model_named.value) == ("gpt4o", 0.75)
    assert mention.omitted_after_model.n == 3


def test_blinded_the_control_stays_the_reference_under_its_letter():
    blinded = arm_views(ARMS, blinded=True, salt="s")
    dashboard = build_dashboard(
        arms=blinded,
        scenarios=SCENARIOS,
        levels=LEVELS,
        cells=CELLS,
        participants={},
        mentions=[],
        transcripts_pending=0,
        generated_at="now",
    )
    control = next(view for view in blinded if view.is_reference)
    assert dashboard.reference == control
    assert dashboard.reference.name == control.letter and not dashboard.reference.key
    unblinded = arm_views(ARMS, blinded=False, salt="s")
    assert next(v for v in unblinded if v.is_reference).letter == control.letter


def test_the_confusion_matrix_puts_gold_in_rows_and_the_choice_in_columns():
    control, gpt, _llama = confusion_matrices(arms=views(), levels=LEVELS, cells=CELLS)
    assert control.rows == control.columns == ["Ambulance", "A&E", "Self"]
    assert control.successes == [[0, 0, 0], [1, 4, 0], [0, 0, 2]]
    assert gpt.successes == [[0, 0, 0], [0, 0, 3], [0, 1, 0]]
    assert gpt.values[1] == [0.0, 0.0, 1.0]
    assert gpt.values[0] == [None, None, None]


def test_the_distance_distribution_spans_the_whole_scale():
    d = distance_distribution(arms=views(), levels=LEVELS, cells=CELLS)
    assert d.distances == [-4, -3, -2, -1, 0, 1, 2, 3, 4]
    assert d.counts[1] == [0, 3, 0, 0, 0, 0, 0, 1, 0]
    assert d.shares[1][1] == 0.75


@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3]),
            st.sampled_from([10, 11, 12]),
            st.sampled_from([0, 3, 4]),
            st.sampled_from([0, 3, 4]),
            st.sampled_from([True, False, None]),
            st.integers(1, 50),
        ),
        max_size=30,
    )
)
def test_every_answer_lands_in_exactly_one_heatmap_cell(rows):
    cells = [cell(*row) for row in rows]
    matrix = scenario_matrix(arms=views(), scenarios=SCENARIOS, cells=cells, metric="disposition")
    known = sum(c.n for c in cells if c.scenario_id in (10, 11))
    assert sum(map(sum, matrix.totals)) == known
    exact = sum(c.n for c in cells if c.scenario_id in (10, 11) and c.answer_value == c.gold_value)
    assert sum(map(sum, matrix.successes)) == exact
    named = scenario_matrix(arms=views(), scenarios=SCENARIOS, cells=cells, metric="conditions")
    scored = sum(
        c.n for c in cells if c.scenario_id in (10, 11) and c.conditions_correct is not None
    )
    assert sum(map(sum, named.totals)) == scored


def test_the_figures_are_plain_json_with_error_bars():
    dashboard = build_dashboard(
        arms=views(),
        scenarios=SCENARIOS,
        levels=LEVELS,
        cells=CELLS,
        participants={},
        mentions=[MentionRow(2, 4, 3, 1, 2, 1)],
        transcripts_pending=0,
        generated_at="now",
    )
    figures = {f.id: f.figure for f in plots.dashboard_figures(dashboard)}
    bars = figures["fig-accuracy"]["data"][0]
    assert bars["x"] == ["control", "gpt4o", "llama"]
    assert bars["y"][0] == round(100 * 6 / 7, 2)
    assert bars["y"][2] is None
    low = dashboard.summaries[0].disposition.ci_low
    assert bars["error_y"]["arrayminus"][0] == round(100 * (6 / 7 - low), 2)
    # The second scenario is version 2: its column says so.
    assert figures["fig-heatmap-disposition"]["data"][0]["x"] == ["belly", "back v2"]
    assert len(figures["fig-confusion"]["data"]) == 3
    assert figures["fig-mentions"]["data"][0]["x"] == ["gpt4o"]


def test_every_figure_is_one_plotly_accepts():
    import plotly.graph_objects as go

    dashboard = build_dashboard(
        arms=arm_views(ARMS, blinded=True, salt="s"),
        scenarios=SCENARIOS,
        levels=LEVELS,
        cells=CELLS,
        participants={1: 3},
        mentions=[MentionRow(2, 4, 3, 1, 2, 1)],
        transcripts_pending=0,
        generated_at="now",
    )
    for spec in plots.dashboard_figures(dashboard):
        # graph_objects validates every property name and value: a typo raises here.
        figure = go.Figure(spec.figure)
        assert len(figure.data) == len(spec.figure["data"]), spec.id
