"""The investigators' builder: pages under the study, per-field messages, reordering,
the freeze once answered, and the audit trail."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.participation.services import questionnaire_submit
from studyapp.questionnaires.models import Item, Questionnaire
from tests.participation.conftest import enter
from tests.questionnaires.conftest import add_baseline

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _list_url(study):
    return reverse("questionnaires:list", args=[study.slug])


def _url(name, questionnaire, *args):
    return reverse(
        f"questionnaires:{name}", args=[questionnaire.study.slug, questionnaire.pk, *args]
    )


def _item_data(**overrides):
    data = {"key": "age", "kind": "number", "text": "Your age", "required": "on"}
    data.update(overrides)
    return data


def test_it_refuses_someone_who_does_not_investigate_the_study(client, control_study, charlie):
    client.force_login(charlie)
    assert client.get(_list_url(control_study)).status_code == 404
    assert client.post(_list_url(control_study), {"key": "x"}).status_code == 404
    client.logout()
    assert client.get(_list_url(control_study)).status_code == 302  # to the login page


def test_it_creates_a_questionnaire_and_adds_items(client, control_study, alice):
    client.force_login(alice)
    response = client.post(
        _list_url(control_study),
        {"key": "baseline", "title": "About you", "placement": "after_consent"},
    )
    questionnaire = Questionnaire.objects.get(study=control_study, key="baseline")
    assert response["Location"] == _url("edit", questionnaire)
    response = client.post(_url("item_add", questionnaire), _item_data(min_value="18"), **HTMX)
    assert response.status_code == 200
    assert 'id="items"' in response.content.decode() and "<html" not in response.content.decode()
    item = questionnaire.items.get()
    assert (item.kind, item.min_value, item.max_value, item.required) == (
        "number",
        18.0,
        None,
        True,
    )
    options = "uni | University degree\nschool | School"
    client.post(
        _url("item_add", questionnaire),
        _item_data(key="education", kind="single", text="Education", options=options),
    )
    assert questionnaire.items.get(key="education").options == [
        {"value": "uni", "label": "University degree"},
        {"value": "school", "label": "School"},
    ]
    page = client.get(_url("edit", questionnaire)).content.decode()
    assert "University degree" in page and "Your age" in page


def test_an_invalid_item_gets_a_message_beside_each_field(client, control_study, alice):
    questionnaire = add_baseline(control_study)
    client.force_login(alice)
    bad = _item_data(key="x", kind="single", text="Pick", options="only")
    response = client.post(_url("item_add", questionnaire), bad, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_new_item_options-error"' in html and "Give at least two options." in html
    bad = _item_data(key="age", min_value="50", max_value="10")  # the key is taken too
    html = client.post(_url("item_add", questionnaire), bad, **HTMX).content.decode()
    assert 'id="id_new_item_key-error"' in html
    assert "Another item of this questionnaire has this key." in html
    bad = _item_data(key="later", min_value="50", max_value="10")
    html = client.post(_url("item_add", questionnaire), bad, **HTMX).content.decode()
    assert 'id="id_new_item_max_value-error"' in html
    assert questionnaire.items.count() == 3


def test_the_builder_page_s_forms_have_ids_of_their_own(client, control_study, alice):
    """The questionnaire's form, an item's edit form and the new item's form are on one
    page: a shared id would make a label (and a browser test) reach the wrong field."""
    questionnaire = add_baseline(control_study)
    item = questionnaire.items.get(key="age")
    client.force_login(alice)
    for html in (
        client.get(_url("edit", questionnaire)).content.decode(),
        client.get(_url("item_edit", questionnaire, item.pk)).content.decode(),
    ):
        ids = re.findall(r'\bid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    edit_page = client.get(_url("item_edit", questionnaire, item.pk)).content.decode()
    assert f'id="id_item{item.pk}_key"' in edit_page and 'id="id_new_item_key"' in edit_page


def test_show_only_if_offers_the_earlier_items_by_key_and_question(client, control_study, alice):
    questionnaire = add_baseline(control_study)
    uses = questionnaire.items.get(key="uses_llm")
    client.force_login(alice)
    html = client.get(_url("edit", questionnaire)).content.decode()
    assert f'<option value="{uses.pk}">uses_llm: {uses.text}</option>' in html


def test_a_condition_must_name_an_answer_of_the_earlier_item(client, control_study, alice):
    questionnaire = add_baseline(control_study)
    uses = questionnaire.items.get(key="uses_llm")
    client.force_login(alice)
    data = _item_data(key="which", kind="text", condition_item=uses.pk, condition_values="maybe")
    html = client.post(_url("item_add", questionnaire), data, **HTMX).content.decode()
    assert 'id="id_new_item_condition_values-error"' in html and "maybe" in html
    data["condition_values"] = "yes"
    client.post(_url("item_add", questionnaire), data, **HTMX)
    assert questionnaire.items.get(key="which").condition_item == uses


def test_items_move_and_a_move_before_their_condition_is_refused(client, control_study, alice):
    questionnaire = add_baseline(control_study)
    keys = lambda: list(questionnaire.items.order_by("position").values_list("key", flat=True))  # noqa: E731
    assert keys() == ["uses_llm", "how_often", "age"]
    client.force_login(alice)
    age = questionnaire.items.get(key="age")
    client.post(_url("item_move", questionnaire, age.pk), {"direction": "up"}, **HTMX)
    assert keys() == ["uses_llm", "age", "how_often"]
    how_often = questionnaire.items.get(key="how_often")
    client.post(_url("item_move", questionnaire, how_often.pk), {"direction": "up"}, **HTMX)
    response = client.post(
        _url("item_move", questionnaire, how_often.pk), {"direction": "up"}, **HTMX
    )
    assert keys() == ["uses_llm", "how_often", "age"]
    assert "must stay after" in response.content.decode()


def test_an_item_another_depends_on_is_not_deleted(client, control_study, alice):
    questionnaire = add_baseline(control_study)
    client.force_login(alice)
    uses = questionnaire.items.get(key="uses_llm")
    response = client.post(_url("item_delete", questionnaire, uses.pk), **HTMX)
    assert "depending on this one" in response.content.decode()
    assert Item.objects.filter(pk=uses.pk).exists()
    age = questionnaire.items.get(key="age")
    client.post(_url("item_delete", questionnaire, age.pk), **HTMX)
    assert not Item.objects.filter(pk=age.pk).exists()


def test_an_answered_questionnaire_is_frozen(client, control_study, alice):
    questionnaire = add_baseline(control_study)
    flow = enter(client, control_study)
    flow.post("consent", {"agree": "1"})
    questionnaire_submit(
        participant_id=flow.participant.pk,
        questionnaire_id=questionnaire.pk,
        raw={"uses_llm": ["no"], "age": ["30"]},
    )
    client.force_login(alice)
    page = client.get(_url("edit", questionnaire)).content.decode()
    assert 'id="questionnaire-locked"' in page and 'id="item-add"' not in page
    response = client.post(_url("item_add", questionnaire), _item_data(key="new"), **HTMX)
    assert "can no longer be changed" in response.content.decode()
    age = questionnaire.items.get(key="age")
    client.post(_url("item_edit", questionnaire, age.pk), _item_data(text="Changed"), **HTMX)
    client.post(_url("item_delete", questionnaire, age.pk), **HTMX)
    client.post(_url("delete", questionnaire))
    response = client.post(
        _url("edit", questionnaire), {"key": "b2", "title": "T", "placement": "end"}
    )
    assert "can no longer be changed" in response.content.decode()
    age.refresh_from_db()
    questionnaire.refresh_from_db()
    assert (age.text, questionnaire.key, questionnaire.items.count()) == (
        "Your age",
        "baseline",
        3,
    )


def test_changes_are_recorded_in_the_study_s_audit_chain(client, control_study, alice):
    client.force_login(alice)
    client.post(_list_url(control_study), {"key": "exit", "title": "Last", "placement": "end"})
    questionnaire = Questionnaire.objects.get(key="exit")
    client.post(_url("item_add", questionnaire), _item_data())
    item = questionnaire.items.get()
    client.post(_url("item_edit", questionnaire, item.pk), _item_data(text="How old are you?"))
    entries = list(
        AuditEntry.objects.of_study(control_study)
        .filter(object_type__startswith="questionnaires.")
        .order_by("seq")
    )
    assert [(e.action, e.object_type) for e in entries] == [
        ("create", "questionnaires.questionnaire"),
        ("create", "questionnaires.item"),
        ("change", "questionnaires.item"),
    ]
    assert entries[-1].before == {"text": "Your age"}
    assert entries[-1].after == {"text": "How old are you?"}
    assert all(e.actor_label == "alice" for e in entries)
