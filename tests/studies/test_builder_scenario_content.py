"""The scenario page's key fact and rubric rows (studies.forms_scenario_content, views_builder):
saved as `Scenario.key_facts` and `Scenario.rubric`, refused beside the row at fault, versioned
with the scenario, and read as saved by the information-transfer analysis and rubric runs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.analysis.information import information_transfer_records
from studyapp.evaluations.kinds.rubric import RubricKind
from studyapp.evaluations.kinds.rubric_targets import human_targets
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.science.rubric import load_template
from studyapp.participation.models import Participant, Task
from studyapp.studies.design_files import design_export, design_import
from studyapp.studies.models import Scenario, Study
from tests.analysis.scored import scored_answer
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
)

FACTS = [{"key": "on-apixaban", "text": "Takes apixaban.", "patterns": ["apixaban"]}]
RUBRIC = [{"key": "advises-ae", "text": "Advises A&E.", "points": 2, "applies_to": "model"}]


@pytest.fixture
def draft(alice) -> Study:
    study = make_study("draft", status=Study.Status.DRAFT, title="Draft study")
    make_member(study, alice)
    make_llm_arm(study, make_endpoint(name="team-vllm"), key="llama")
    make_scenario(study, "s1", key_facts=FACTS, rubric=RUBRIC)
    return study


def page_data(study, **overrides):
    """The scenario page as posted, its key fact and rubric rows included."""
    level = study.disposition_scale.levels.get(code="ae")
    data = {
        "key": "s1",
        "title": "Chest pain",
        "section_heading": ["Your situation"],
        "section_text": ["You have chest pain."],
        "gold_disposition": level.pk,
        "gold_conditions": "myocardial infarction",
        "red_flags": "",
        "condition_synonyms": "",
        "provenance": "",
        "key_facts_shown": "1",
        "fact_key": ["left-arm", "", ""],
        "fact_text": ["The pain goes into the left arm.", "He smokes.", ""],
        "fact_patterns": ["left arm\narm hurts\n", "smok", ""],
        "rubric_shown": "1",
        "rubric_key": ["advises-999", ""],
        "rubric_text": ["Advises calling 999.", "Says it is indigestion."],
        "rubric_points": ["3", "-2"],
        "rubric_applies_to": ["model", "answer"],
    }
    data.update(overrides)
    return data


SAVED_FACTS = [
    {
        "key": "left-arm",
        "text": "The pain goes into the left arm.",
        "patterns": ["left arm", "arm hurts"],
    },
    {"key": "he-smokes", "text": "He smokes.", "patterns": ["smok"]},
]
SAVED_RUBRIC = [
    {"key": "advises-999", "text": "Advises calling 999.", "points": 3, "applies_to": "model"},
    {
        "key": "says-it-is-indigestion",
        "text": "Says it is indigestion.",
        "points": -2,
        "applies_to": "answer",
    },
]


def edit_url(scenario: Scenario) -> str:
    return reverse("studies:scenario_edit", args=[scenario.study.slug, scenario.pk])


def test_the_page_shows_key_facts_and_rubric_as_rows_and_says_how_they_are_used(
    client, alice, draft
):
    client.force_login(alice)
    html = client.get(edit_url(draft.scenarios.get())).content.decode()
    assert 'name="fact_text" id="fact-text-0" value="Takes apixaban."' in html
    assert (
        '<textarea name="fact_patterns" id="fact-patterns-0" rows="3">apixaban</textarea>' in html
    )
    assert 'name="rubric_points" id="rubric-points-0" value="2"' in html
    assert '<option value="model" selected>' in html
    assert 'id="key-facts-help"' in html and "not just after “no”" in html
    assert 'id="rubric-help"' in html and "negative points" in html
    assert "the admin edits them" not in html
    html = client.get(reverse("studies:scenario_new", args=[draft.slug])).content.decode()
    assert 'id="key-facts-none"' in html and 'id="rubric-none"' in html


def test_key_fact_and_rubric_rows_save_as_their_json(client, alice, draft):
    scenario = draft.scenarios.get()
    client.force_login(alice)
    response = client.post(edit_url(scenario), page_data(draft))
    assert response.status_code == 302
    scenario.refresh_from_db()
    # An empty key is made from the text; the row left empty is left out.
    assert scenario.key_facts == SAVED_FACTS
    assert scenario.rubric == SAVED_RUBRIC
    assert scenario.version == 1


def test_removing_every_row_empties_them(client, alice, draft):
    scenario = draft.scenarios.get()
    client.force_login(alice)
    data = page_data(draft)
    for name in ("fact_key", "fact_text", "fact_patterns", "rubric_key", "rubric_text"):
        del data[name]
    del data["rubric_points"], data["rubric_applies_to"]
    assert client.post(edit_url(scenario), data).status_code == 302
    scenario.refresh_from_db()
    assert (scenario.key_facts, scenario.rubric) == ([], [])


def test_a_post_without_the_editors_keeps_them_as_they_are(client, alice, draft):
    # A page opened before the rows existed said the admin edits them: they are kept.
    scenario = draft.scenarios.get()
    client.force_login(alice)
    data = {k: v for k, v in page_data(draft).items() if not k.startswith(("fact", "rubric"))}
    del data["key_facts_shown"]
    assert client.post(edit_url(scenario), data).status_code == 302
    scenario.refresh_from_db()
    assert (scenario.key_facts, scenario.rubric, scenario.title) == (FACTS, RUBRIC, "Chest pain")


def test_row_buttons_add_and_remove_rows_without_saving(client, alice, draft):
    scenario = draft.scenarios.get()
    client.force_login(alice)
    url = edit_url(scenario)
    html = client.post(url, page_data(draft, fact_action="add")).content.decode()
    assert html.count('name="fact_text"') == 4
    html = client.post(url, page_data(draft, rubric_action="remove-0")).content.decode()
    assert html.count('name="rubric_text"') == 1 and "Advises calling 999." not in html
    assert "Says it is indigestion." in html
    response = client.post(url, page_data(draft, rubric_action="add"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<form method="post" class="card scenario-form"')
    assert html.count('name="rubric_text"') == 3
    scenario.refresh_from_db()
    assert (scenario.key_facts, scenario.rubric) == (FACTS, RUBRIC)


def test_invalid_rows_get_their_messages_beside_them_and_nothing_is_saved(client, alice, draft):
    scenario = draft.scenarios.get()
    client.force_login(alice)
    data = page_data(
        draft,
        fact_key=["left-arm", "left-arm", "not a slug"],
        fact_patterns=["left arm", "", "x"],
        fact_text=["The pain goes into the left arm.", "He smokes.", "Third"],
        rubric_key=["", "harm"],
        rubric_text=["Advises calling 999.", ""],
        rubric_points=["0", "1.5"],
    )
    response = client.post(edit_url(scenario), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert (
        '<span class="errorlist" id="fact-key-1-error">The key &#x27;left-arm&#x27; is used twice.'
        in html
    )
    assert '<span class="errorlist" id="fact-patterns-1-error">Patterns must be' in html
    assert '<span class="errorlist" id="fact-key-2-error">Key must be a slug' in html
    assert 'id="fact-key-0-error"' not in html and 'id="fact-patterns-0-error"' not in html
    assert '<span class="errorlist" id="rubric-points-0-error">Points must be a whole' in html
    assert '<span class="errorlist" id="rubric-text-1-error">Text must not be empty.' in html
    assert 'id="rubric-points-1-error"' in html
    # What was typed comes back, so nothing is lost.
    assert 'name="rubric_points" id="rubric-points-1" value="1.5"' in html
    scenario.refresh_from_db()
    assert (scenario.key_facts, scenario.rubric, scenario.title) == (FACTS, RUBRIC, "Scenario s1")
    htmx = client.post(edit_url(scenario), data, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and 'id="fact-key-1-error"' in htmx.content.decode()


def test_a_seen_scenario_gets_a_new_version_with_them(client, alice, draft):
    old = draft.scenarios.get()
    Task.objects.create(participant=make_participant(draft), scenario=old, position=1)
    client.force_login(alice)
    response = client.post(edit_url(old), page_data(draft), follow=True)
    assert "your changes are version 2" in response.content.decode()
    old.refresh_from_db()
    assert (old.is_active, old.key_facts, old.rubric) == (False, FACTS, RUBRIC)
    new = draft.scenarios.get(is_active=True)
    assert (new.version, new.key_facts, new.rubric) == (2, SAVED_FACTS, SAVED_RUBRIC)


def test_the_information_transfer_export_reads_the_saved_key_facts(client, alice, draft):
    scenario = draft.scenarios.get()
    client.force_login(alice)
    client.post(edit_url(scenario), page_data(draft))
    scenario.refresh_from_db()
    participant = make_participant(
        draft, arm=draft.arms.get(), status=Participant.Status.COMPLETED
    )
    chat = [("user", "My left arm hurts."), ("assistant", "Call 999."), ("user", "I don't smoke.")]
    scored_answer(participant, scenario, 1, "ae", "angina", chat=chat)
    records = list(information_transfer_records(draft))
    assert [(r["fact_key"], r["given"], r["first_turn"]) for r in records] == [
        ("left-arm", True, 1),
        ("he-smokes", False, None),  # said only negated
    ]


def test_a_rubric_run_grades_the_saved_rubric(client, alice, draft):
    scenario = draft.scenarios.get()
    client.force_login(alice)
    client.post(edit_url(scenario), page_data(draft))
    scenario.refresh_from_db()
    participant = make_participant(
        draft, arm=draft.arms.get(), status=Participant.Status.COMPLETED
    )
    scored_answer(participant, scenario, 1, "ae", "angina", chat=[("user", "it hurts")])
    targets = human_targets(study=draft)
    assert [t.rubric for t in targets] == [SAVED_RUBRIC]
    config = {"grader_template": load_template(), "repetitions": 1}
    items = RubricKind().plan(run=EvaluationRun(study=draft), config=config, inputs=targets)
    assert [item.parsed["rubric"] for item in items] == SAVED_RUBRIC


def test_a_design_file_carries_what_the_page_saved(client, alice, draft):
    scenario = draft.scenarios.get()
    client.force_login(alice)
    client.post(edit_url(scenario), page_data(draft))
    copy = design_import(design_export(draft), slug="copied")
    copied = copy.scenarios.get()
    assert (copied.key_facts, copied.rubric) == (SAVED_FACTS, SAVED_RUBRIC)
