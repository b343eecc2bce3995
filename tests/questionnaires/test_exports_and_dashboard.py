"""Questionnaire answers in the exports (a long table, and one dictionary entry per
item) and per arm on the dashboard."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from studyapp.analysis import exports
from studyapp.participation.selectors import participant_current_step
from studyapp.questionnaires.selectors import study_answer_summary
from tests.participation.conftest import enter

pytestmark = pytest.mark.django_db


def _submitter(flow):
    def submit(data):
        step = participant_current_step(flow.refresh())
        flow.client.post(flow.url("questionnaire", pk=step.questionnaire_id), data)

    return submit


@pytest.fixture
def answered(q_study, client):
    """Two participants through the whole flow with different answers."""
    for uses, age, trust, sources in (
        ("yes", "30", "6", ["web"]),
        ("no", "50", "2", ["web", "gp"]),
    ):
        flow = enter(client, q_study)
        flow.post("consent", {"agree": "1"})

        submit = _submitter(flow)
        submit({"q-uses_llm": uses, "q-how_often": "4", "q-age": age})
        flow.post("instructions")
        for position in (1, 2):
            flow.post("sources", {"sources_text": "NHS"}, position=position)
            flow.post("answer", flow.answer_data(), position=position)
            submit({"q-trust": trust})
        submit({"q-sources": sources, "q-comments": "=cmd|' /C calc'!A0"})
        assert flow.refresh().status == "completed"
        client.cookies.clear()
    return q_study


def _rows(study, blinded=False):
    arms = exports.arm_names_for(study=study)
    table = exports.TABLES["questionnaire_answers"]
    names = [c.name for c in table.visible_columns(blinded=blinded)]
    return [
        dict(zip(names, row, strict=True))
        for row in exports.rows(table, study=study, arms=arms, blinded=blinded)
    ]


def test_every_answer_is_a_row_of_the_long_table(answered):
    rows = _rows(answered)
    # Per participant: uses_llm, (how_often if yes), age, trust x 2, sources, comments.
    assert len(rows) == 7 + 6
    trust = [r for r in rows if r["item_key"] == "trust"]
    assert {r["scenario_key"] for r in trust} <= {"alpha", "beta", "gamma"}
    assert all(r["placement"] == "after_each_scenario" and r["task_id"] for r in trust)
    assert sorted(r["value_number"] for r in trust) == [2.0, 2.0, 6.0, 6.0]
    sources = sorted((r["value_choices"] for r in rows if r["item_key"] == "sources"), key=len)
    assert sources == [["web"], ["web", "gp"]]
    assert {r["arm"] for r in rows} == {"control"}
    assert "arm" not in _rows(answered, blinded=True)[0]


def test_the_dictionary_has_one_entry_per_item_with_its_coding(answered):
    dictionary = exports.data_dictionary(study=answered, blinded=False)
    entries = {(e["questionnaire"], e["item"]): e for e in dictionary["questionnaires"]}
    assert len(entries) == 6
    how_often = entries[("baseline", "how_often")]
    assert how_often["kind"] == "likert" and how_often["text"] == "How often?"
    assert how_often["coding"] == "value_number: integer 1 to 5 (1 = Rarely; 5 = Daily)"
    assert how_often["shown_only_if"] == {"item": "uses_llm", "values": ["yes"]}
    uses = entries[("baseline", "uses_llm")]
    assert uses["options"] == [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}]
    assert entries[("baseline", "age")]["coding"] == "value_number: a number from 18 to 99"
    table = next(t for t in dictionary["tables"] if t["name"] == "questionnaire_answers")
    assert "value_choices" in [c["name"] for c in table["columns"]]
    text = exports.data_dictionary_csv(dictionary).decode()
    lines = [r for r in csv.reader(io.StringIO(text)) if r[1] == "baseline.uses_llm"]
    assert lines == [
        [
            "questionnaire_answers",
            "baseline.uses_llm",
            "single",
            "Do you use chatbots? [value_text: one option value; options: yes = Yes; no = No]",
        ]
    ]


def test_a_csv_export_defuses_a_formula_in_free_text(answered):
    table = exports.TABLES["questionnaire_answers"]
    arms = exports.arm_names_for(study=answered)
    text = b"".join(exports.iter_csv(table, study=answered, arms=arms, blinded=False)).decode()
    assert "'=cmd|" in text


def test_the_summary_counts_and_averages_per_arm_in_few_queries(
    answered, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        summary = study_answer_summary(study_id=answered.pk)
    items = {i.key: i for q in answered.questionnaires.all() for i in q.items.all()}
    arm_id = answered.arms.get().pk
    assert summary[items["trust"].pk][arm_id]["n"] == 4
    assert summary[items["trust"].pk][arm_id]["mean"] == pytest.approx(4.0)
    assert summary[items["uses_llm"].pk][arm_id]["counts"] == {"yes": 1, "no": 1}
    assert summary[items["sources"].pk][arm_id]["counts"] == {"web": 2, "gp": 1}
    assert summary[items["comments"].pk][arm_id]["n"] == 2


def test_the_dashboard_shows_the_summary(answered, client, alice):
    client.force_login(alice)
    html = client.get(reverse("analysis:dashboard", args=[answered.slug])).content.decode()
    assert 'id="questionnaires"' in html
    assert "baseline.how_often" in html and "mean 4.00" in html
    assert "A doctor: 1" in html


def test_a_study_without_questionnaires_shows_no_section(control_study, client, alice):
    client.force_login(alice)
    html = client.get(reverse("analysis:dashboard", args=[control_study.slug])).content.decode()
    assert 'id="questionnaires"' not in html


def test_a_study_with_unanswered_questionnaires_can_be_deleted(q_study):
    """(A study with participants' data is protected from deletion, answers included.)"""
    from studyapp.questionnaires.models import Item, Questionnaire

    q_study.delete()
    assert not Questionnaire.objects.exists() and not Item.objects.exists()
