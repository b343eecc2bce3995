"""The analysis splits by the language participants took part in (Participant.language):
a filter on every figure the dashboard's filters drive, a by-language table, and the
study report's per-language figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from studyapp.analysis.selectors import AnswerFilters, dashboard
from studyapp.analysis.statistics import wilson
from studyapp.participation.models import Participant
from studyapp.studies.models import Arm, Scenario, Study
from tests.analysis.scored import ARM_SECRETS, scored_answer
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
)

EN, DE = "en", "de"


@dataclass
class Bilingual:
    study: Study
    llm: Arm
    control: Arm
    belly: Scenario
    back: Scenario


def _participant(data: Bilingual, arm: Arm | None, language: str, status: str, **kwargs):
    return make_participant(data.study, arm=arm, language=language, status=status, **kwargs)


def add_participants(data: Bilingual, count: int) -> None:
    """More completed participants in both languages (for query counts)."""
    for i in range(count):
        arm = data.llm if i % 2 else data.control
        p = _participant(data, arm, (EN, DE)[i % 3 % 2], Participant.Status.COMPLETED)
        scored_answer(p, data.belly, 1, "ae", "appendicitis")


@pytest.fixture
def bilingual(alice) -> Bilingual:
    """en: llm p1 (completed) 2 answers, 1 exact disposition, 1 naming a gold condition;
           control p2 (completed) 2 answers, both exact, 1 naming one.
    de: llm p3 (completed) 1 answer, under-triage, naming one; llm p4 (consented) 1
        answer, exact, naming one; control p5 (started) no answer.
    Not allocated: one in de. A simulated patient in the de llm arm answers (left out).
    """
    study = make_study("gamma", title="Gamma study", languages=[EN, DE])
    make_member(study, alice)
    belly = make_scenario(
        study, "belly", level_code="ae", gold_conditions=["appendicitis", "ovarian torsion"]
    )
    back = make_scenario(
        study, "back", level_code="self_care", gold_conditions=["muscle strain", "sciatica"]
    )
    endpoint = make_endpoint(name="endpoint-secret-zq", model="model-secret-zq")
    llm = make_llm_arm(study, endpoint, key="gptarmzq", participant_label="Helper Bot Zq")
    control = make_control_arm(study, key="ctlarmzq", participant_label="Own Sources Zq")
    data = Bilingual(study=study, llm=llm, control=control, belly=belly, back=back)

    completed = Participant.Status.COMPLETED
    p1 = _participant(data, llm, EN, completed)
    scored_answer(p1, belly, 1, "ae", "appendicitis")  # exact, named
    scored_answer(p1, back, 2, "routine_gp", "no idea")  # over, not named
    p2 = _participant(data, control, EN, completed)
    scored_answer(p2, belly, 1, "ae", "gastroenteritis")  # exact, not named
    scored_answer(p2, back, 2, "self_care", "a muscle strain")  # exact, named
    p3 = _participant(data, llm, DE, completed)
    scored_answer(p3, belly, 1, "urgent_primary_care", "ovarian torsion")  # under, named
    p4 = _participant(data, llm, DE, Participant.Status.CONSENTED)
    scored_answer(p4, belly, 1, "ae", "appendicitis")  # exact, named
    _participant(data, control, DE, Participant.Status.STARTED)
    _participant(data, None, DE, Participant.Status.STARTED)
    simulated = _participant(
        data, llm, DE, completed, is_simulated=True, prolific_pid="evalsim-lang-1"
    )
    scored_answer(simulated, belly, 1, "self_care", "no idea")
    scored_answer(simulated, back, 2, "ae", "no idea")
    return data


@pytest.fixture
def url(bilingual):
    return reverse("analysis:dashboard", args=[bilingual.study.slug])


def figures(summary) -> tuple:
    """(participants, answers, disposition x/n, conditions x/n) of an ArmSummary."""
    return (
        summary.participants,
        summary.answers,
        (summary.disposition.successes, summary.disposition.n),
        (summary.conditions.successes, summary.conditions.n),
    )


def by_key(board) -> dict[str, tuple]:
    return {s.arm.key: figures(s) for s in board.summaries}


def language_table(board) -> list[tuple]:
    return [(row.code, row.summary.arm.key, *figures(row.summary)) for row in board.languages]


def test_the_language_filter_narrows_the_per_arm_figures(client, alice, bilingual, url):
    client.force_login(alice)
    everyone = client.get(url).context["dashboard"]
    assert by_key(everyone) == {
        "gptarmzq": (3, 4, (2, 4), (3, 4)),
        "ctlarmzq": (2, 2, (2, 2), (1, 2)),
    }
    english = client.get(url, {"language": EN}).context["dashboard"]
    assert by_key(english) == {
        "gptarmzq": (1, 2, (1, 2), (1, 2)),
        "ctlarmzq": (1, 2, (2, 2), (1, 2)),
    }
    german = client.get(url, {"language": DE}).context["dashboard"]
    assert by_key(german) == {
        "gptarmzq": (2, 2, (1, 2), (2, 2)),
        "ctlarmzq": (1, 0, (0, 0), (0, 0)),
    }
    llm = next(s for s in german.summaries if s.arm.key == "gptarmzq")
    assert (llm.disposition.ci_low, llm.disposition.ci_high) == (
        wilson(1, 2).ci_low,
        wilson(1, 2).ci_high,
    )
    assert llm.under.successes == 1
    # It combines with the other filters.
    completed = client.get(url, {"language": DE, "completed_only": "1"})
    assert by_key(completed.context["dashboard"])["gptarmzq"] == (1, 1, (0, 1), (1, 1))


def test_the_by_language_table_has_a_row_per_language_and_arm(client, alice, bilingual, url):
    client.force_login(alice)
    response = client.get(url)
    board = response.context["dashboard"]
    # Languages in the study's order, arms in the per-arm table's (by key).
    assert language_table(board) == [
        (EN, "ctlarmzq", 1, 2, (2, 2), (1, 2)),
        (EN, "gptarmzq", 1, 2, (1, 2), (1, 2)),
        (DE, "ctlarmzq", 1, 0, (0, 0), (0, 0)),
        (DE, "gptarmzq", 2, 2, (1, 2), (2, 2)),
    ]
    en_llm = board.languages[1].summary
    assert en_llm.disposition.value == 0.5
    assert (en_llm.disposition.ci_low, en_llm.disposition.ci_high) == (
        wilson(1, 2).ci_low,
        wilson(1, 2).ci_high,
    )
    assert board.languages[2].summary.disposition.value is None  # nothing to count
    assert board.languages[0].name == "English"
    assert board.languages[2].name == "Deutsch"
    html = response.content.decode()
    assert 'id="by-language"' in html
    assert 'name="language"' in html
    assert '<option value="de">Deutsch</option>' in html
    assert "All languages" in html
    # The cells use the per-arm table's formatting: 1/2 is 50.0% (Wilson 9.5-90.5).
    assert '50.0% <span class="muted small">9.5\u201390.5</span>' in html


def test_the_by_language_table_follows_the_other_filters(client, alice, bilingual, url):
    client.force_login(alice)
    board = client.get(url, {"completed_only": "1"}).context["dashboard"]
    assert language_table(board) == [
        (EN, "ctlarmzq", 1, 2, (2, 2), (1, 2)),
        (EN, "gptarmzq", 1, 2, (1, 2), (1, 2)),
        (DE, "ctlarmzq", 0, 0, (0, 0), (0, 0)),
        (DE, "gptarmzq", 1, 1, (0, 1), (1, 1)),
    ]
    # Filtered to one language, the table shows only that one.
    german = client.get(url, {"language": DE}).context["dashboard"]
    assert [row.code for row in german.languages] == [DE, DE]


def test_simulated_patients_stay_out_of_every_language_figure(bilingual):
    for language in ("", EN, DE):
        board = dashboard(
            study=bilingual.study, filters=AnswerFilters(language=language), blinded=False
        )
        assert board.answers == {"": 6, EN: 4, DE: 2}[language]
        assert sum(row.summary.answers for row in board.languages) == board.answers
        assert sum(row.summary.participants for row in board.languages) == board.participants


def test_a_study_in_one_language_shows_neither_the_field_nor_the_section(client, alice, bilingual):
    Study.objects.filter(pk=bilingual.study.pk).update(languages=[EN])
    client.force_login(alice)
    response = client.get(reverse("analysis:dashboard", args=["gamma"]))
    html = response.content.decode()
    assert response.context["dashboard"].languages == []
    assert 'name="language"' not in html
    assert "By language" not in html
    assert "by_language" not in run_report_json("gamma")


def test_blinded_the_by_language_table_names_arms_by_letter_only(client, alice, bilingual, url):
    client.force_login(alice)
    letters = {s.arm.key: s.arm.letter for s in client.get(url).context["dashboard"].summaries}
    for response in (
        client.get(url, {"blinded": "1"}),
        client.get(url, {"blinded": "1", "language": DE}, headers={"HX-Request": "true"}),
    ):
        html = response.content.decode()
        for secret in ARM_SECRETS:
            assert secret not in html
        board = response.context["dashboard"]
        assert all(row.summary.arm.blinded for row in board.languages)
        assert {row.summary.arm.name for row in board.languages} == set(letters.values())
    german_llm = next(
        row.summary
        for row in client.get(url, {"blinded": "1"}).context["dashboard"].languages
        if row.code == DE and row.summary.arm.letter == letters["gptarmzq"]
    )
    assert figures(german_llm) == (2, 2, (1, 2), (2, 2))


def test_an_invalid_language_is_reported_and_ignored(client, alice, bilingual, url):
    client.force_login(alice)
    response = client.get(url, {"language": "fr", "completed_only": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<ul class="errorlist">' in html
    assert "Language: Select a valid choice. fr is not one of the available choices." in html
    board = response.context["dashboard"]
    assert board.answers == 5  # every language, the other filter still applied
    assert len(board.languages) == 4
    assert "language=" not in response.context["query"]


def test_links_and_sections_keep_the_language(client, alice, bilingual, url):
    add_participants(bilingual, 90)  # 90 more answers: 30 in de, 60 in en
    client.force_login(alice)
    response = client.get(url, {"language": DE})
    html = response.content.decode()
    assert response.context["query"] == "language=de"
    assert response.context["tasks"].total == 32
    assert "?language=de&amp;page=2" in html  # the pager
    assert f'hx-get="{reverse("analysis:information", args=["gamma"])}?language=de"' in html
    page = client.get(
        reverse("analysis:dashboard_tasks", args=["gamma"]),
        {"language": EN, "page": "2"},
        headers={"HX-Request": "true"},
    )
    assert page.context["tasks"].total == 64
    assert "language=en&amp;page=1" in page.content.decode()
    information = reverse("analysis:information", args=["gamma"])
    assert client.get(information, {"language": DE}).status_code == 200
    assert client.get(information, {"language": "xx"}).status_code == 200


def _count_queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("params", [{}, {"language": DE, "blinded": "1", "completed_only": "1"}])
def test_its_query_count_does_not_grow_with_the_data(client, alice, bilingual, url, params):
    client.force_login(alice)
    client.get(url)  # session and content types out of the count
    small = _count_queries(client, url, **params)
    add_participants(bilingual, 30)
    assert _count_queries(client, url, **params) == small


def test_the_by_language_table_costs_two_queries_a_language(
    client, alice, bilingual, url, django_assert_max_num_queries
):
    add_participants(bilingual, 20)
    client.force_login(alice)
    client.get(url)  # the first request after a login refreshes the session
    # The dashboard's 18 (see test_dashboard), and answer cells and participants per arm
    # for each of the two languages.
    with django_assert_max_num_queries(22):
        client.get(url)


def run_report_json(slug: str) -> dict:
    out = StringIO()
    call_command("study_report", slug, "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def test_the_study_report_has_each_languages_figures(bilingual):
    data = run_report_json("gamma")
    assert [(lang["language"], lang["name"]) for lang in data["by_language"]] == [
        (EN, "English"),
        (DE, "Deutsch"),
    ]
    figures_of = {
        (lang["language"], arm["key"]): (
            sum(arm["participants"].values()),
            arm["n_answers"],
            (arm["disposition_accuracy"]["correct"], arm["disposition_accuracy"]["n"]),
            (arm["condition_accuracy"]["correct"], arm["condition_accuracy"]["n"]),
        )
        for lang in data["by_language"]
        for arm in lang["arms"]
    }
    assert figures_of == {
        (EN, "ctlarmzq"): (1, 2, (2, 2), (1, 2)),
        (EN, "gptarmzq"): (1, 2, (1, 2), (1, 2)),
        (DE, "ctlarmzq"): (1, 0, (0, 0), (0, 0)),
        (DE, "gptarmzq"): (2, 2, (1, 2), (2, 2)),
    }
    german_llm = data["by_language"][1]["arms"][1]
    assert german_llm["participants"]["completed"] == 1
    assert german_llm["participants"]["consented"] == 1
    assert german_llm["disposition_accuracy"]["ci_low"] == pytest.approx(wilson(1, 2).ci_low)
    # The whole-study arms are unchanged: the languages add up to them.
    assert [arm["n_answers"] for arm in data["arms"]] == [2, 4]
