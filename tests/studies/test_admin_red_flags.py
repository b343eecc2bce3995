"""Red flags are optional in the scenario admin, as in the importer (issue 10 item 7)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studyapp.studies.models import Scenario, ScenarioTranslation
from tests.factories import make_scenario, make_study, make_user


@pytest.fixture
def root(db):
    return make_user("root", superuser=True)


def _values(form) -> dict:
    # BoundField.value() is already prepared: JSON fields as JSON text.
    values = {form.add_prefix(name): form[name].value() for name in form.fields}
    return {name: value for name, value in values.items() if value is not None}


def form_data(response, *, inlines: bool = False) -> dict:
    """What the browser would post back: the form's values, the inlines' management
    forms and, with `inlines`, the inline forms' values."""
    data = _values(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data.update(_values(inline.formset.management_form))
        for form in inline.formset.forms if inlines else ():
            data.update(_values(form))
    return data


def test_the_admin_adds_a_scenario_with_no_red_flags(client, root):
    study = make_study("alpha")
    client.force_login(root)
    response = client.get(reverse("admin:studies_scenario_add"))
    data = form_data(response)
    data.update(
        study=study.pk,
        key="belly",
        title="Belly ache",
        sections=json.dumps([{"heading": "You", "text": "You have a belly ache."}]),
        gold_disposition=study.disposition_scale.levels.get(code="ae").pk,
        gold_conditions=json.dumps(["appendicitis"]),
        red_flags="[]",
        condition_synonyms="{}",
        rubric="[]",
        key_facts="[]",
    )
    response = client.post(reverse("admin:studies_scenario_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Scenario.objects.get(key="belly").red_flags == []


@pytest.mark.parametrize("posted", ["[]", ""])
def test_the_admin_saves_a_scenario_whose_red_flags_are_emptied(client, root, posted):
    scenario = make_scenario(make_study("alpha"), "belly", red_flags=["fever"])
    client.force_login(root)
    url = reverse("admin:studies_scenario_change", args=[scenario.pk])
    data = form_data(client.get(url))
    data["red_flags"] = posted
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    scenario.refresh_from_db()
    assert scenario.red_flags == []


def test_the_scenario_admin_deletes_a_translation(client, root):
    # The translation inline's save must not read deleted_objects before save(): it
    # crashed every scenario save that sent the inline's forms.
    study = make_study("alpha", languages=["en", "de"])
    scenario = make_scenario(study, "belly")
    translation = ScenarioTranslation(
        scenario=scenario,
        language="de",
        method="machine",
        translated_by="A service",
        title="Bauchweh",
        sections=[{"heading": "", "text": "Eins."}, {"heading": "", "text": "Zwei."}],
    )
    translation.record_source()
    translation.save()
    client.force_login(root)
    url = reverse("admin:studies_scenario_change", args=[scenario.pk])
    data = form_data(client.get(url), inlines=True)
    data["translations-0-DELETE"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not ScenarioTranslation.objects.filter(pk=translation.pk).exists()
