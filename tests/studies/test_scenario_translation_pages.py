"""The builder's scenario translation pages (studies.views_translations, studies.
builder_scenario_translations): a scenario version's title and sections in another of
the study's languages, each source text above its field, on the study's history and
audit trail, complete while the study is out of draft, kept as participants read it, and
what a participant in that language then reads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.studies.builder_scenario_translations import page_digest
from studyapp.studies.launch import design_problems
from studyapp.studies.models import Scenario, ScenarioTranslation, Study
from studyapp.studies.roles import Role
from studyapp.studies.translations import scenario_text
from tests.factories import (
    make_control_arm,
    make_member,
    make_scenario,
    make_study,
    make_translation,
)
from tests.participation.conftest import enter


@pytest.fixture
def draft(alice) -> Study:
    study = make_study("bilingual", status=Study.Status.DRAFT, languages=["en", "de"])
    make_member(study, alice)
    make_control_arm(study, key="own", participant_label="Your own sources")
    make_scenario(study, "s1")
    make_scenario(
        study,
        "s2",
        sections=[
            {"heading": "", "text": "You woke up with a headache."},
            {"heading": "Medical history", "text": "You take no medicines."},
        ],
    )
    return study


def scenario(study: Study, key: str = "s1") -> Scenario:
    return study.scenarios.get(key=key, is_active=True)


def url(study: Study, key: str = "s1", language: str = "de") -> str:
    return reverse(
        "studies:scenario_translation", args=[study.slug, language, scenario(study, key).pk]
    )


def made_from(html: str) -> str:
    return html.split('name="source" value="', 1)[1].split('"', 1)[0]


def form_data(**overrides) -> dict:
    data = {
        "method": "professional",
        "translated_by": "Übersetzungen GmbH",
        "reviewed_by": "",
        "translated_on": "2026-11-01",
        "notes": "",
        "title": "Bauchschmerzen",
        "section_0_heading": "Ihre Lage",
        "section_0_text": "Sie spielen die Rolle einer Person (s1).",
        "section_1_heading": "Vorgeschichte",
        "section_1_text": "Keine bekannten Allergien.",
    }
    data.update(overrides)
    return data


def post(client, study, key="s1", language="de", **overrides):
    fields = {"source": page_digest(scenario(study, key)), **overrides}
    return client.post(url(study, key, language), form_data(**fields))


def test_each_source_section_is_shown_above_its_field(client, alice, draft):
    client.force_login(alice)
    response = client.get(url(draft, "s2"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Scenario <code>s2</code>" in html and "in Deutsch" in html
    assert "status-closed" in html  # missing
    for field_id, source in [
        ("id_title", "Scenario s2"),
        ("id_section_0_text", "You woke up with a headache."),
        ("id_section_1_heading", "Medical history"),
        ("id_section_1_text", "You take no medicines."),
    ]:
        source_at = html.index(f'id="{field_id}-source"')
        assert source in html[source_at : source_at + 300], field_id
        assert source_at < html.index(f'id="{field_id}"'), field_id
    # A section without a heading in the source has no heading to translate.
    assert 'name="section_0_heading"' not in html
    assert 'name="method"' in html and 'name="reviewed_by"' in html


def test_it_saves_the_translation_on_the_history_and_audit_trail(client, alice, draft):
    client.force_login(alice)
    assert post(client, draft).status_code == 302
    translation = ScenarioTranslation.objects.get(scenario=scenario(draft), language="de")
    assert translation.title == "Bauchschmerzen"
    assert translation.sections == [
        {"heading": "Ihre Lage", "text": "Sie spielen die Rolle einer Person (s1)."},
        {"heading": "Vorgeschichte", "text": "Keine bekannten Allergien."},
    ]
    assert translation.translated_by == "Übersetzungen GmbH"
    assert str(translation.translated_on) == "2026-11-01"
    assert translation.is_current and translation.source_digest
    created = AuditEntry.objects.get(study_id=draft.pk, object_type="studies.scenariotranslation")
    assert created.action == "create" and created.actor == alice
    assert (
        post(client, draft, section_1_text="Keine Allergien.", reviewed_by="B. Berg").status_code
        == 302
    )
    changed = AuditEntry.objects.get(
        study_id=draft.pk, object_type="studies.scenariotranslation", action="change"
    )
    assert changed.actor == alice
    assert changed.before["sections"][1]["text"] == "Keine bekannten Allergien."
    assert changed.after["sections"][1]["text"] == "Keine Allergien."
    assert changed.after["reviewed_by"] == "B. Berg"
    assert translation.history.count() == 2
    html = client.get(url(draft)).content.decode()
    assert "status-live" in html and "Keine Allergien." in html


def test_a_mistake_is_shown_beside_its_field_and_nothing_is_saved(client, alice, draft):
    client.force_login(alice)
    response = post(client, draft, title="", translated_by="")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_title-error"' in html and 'id="id_translated_by-error"' in html
    assert not ScenarioTranslation.objects.exists()
    assert not AuditEntry.objects.filter(object_type="studies.scenariotranslation").exists()


def test_a_draft_may_leave_a_section_empty_a_study_out_of_draft_may_not(client, alice, draft):
    client.force_login(alice)
    assert post(client, draft, section_1_text="").status_code == 302
    html = client.get(url(draft)).content.decode()
    assert "incomplete: 1 missing" in html and "the text of section 2" in html
    page = client.get(reverse("studies:translations", args=[draft.slug])).content.decode()
    assert 'data-scenario="s1" data-state="incomplete"' in page
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.PAUSED)
    response = post(client, draft, section_0_text="", section_1_text="Keine Allergien.")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_section_0_text-error"' in html and "needs it translated" in html
    translation = ScenarioTranslation.objects.get()
    assert translation.sections[0]["text"] == "Sie spielen die Rolle einer Person (s1)."
    assert translation.sections[1]["text"] == ""
    # Corrections (a text filled, a wording changed) go through while it runs.
    assert post(client, draft, section_1_text="Keine Allergien.").status_code == 302
    translation.refresh_from_db()
    assert translation.sections[1]["text"] == "Keine Allergien."


def test_a_save_from_a_page_opened_before_the_scenario_changed_is_refused(client, alice, draft):
    client.force_login(alice)
    opened = made_from(client.get(url(draft)).content.decode())
    # Meanwhile its sections are swapped: section 1's field would now translate section 2.
    s1 = scenario(draft)
    s1.sections = s1.sections[::-1]
    s1.save()
    response = post(client, draft, source=opened)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="translation-errors"' in html and "Nothing was saved" in html
    assert not ScenarioTranslation.objects.exists()
    # The page that says so is made from the scenario as it is now: saving it goes through.
    fresh = made_from(html)
    assert fresh != opened
    assert post(client, draft, source=fresh).status_code == 302


def test_a_language_or_scenario_the_study_does_not_have_is_404(client, alice, draft):
    client.force_login(alice)
    assert client.get(url(draft, language="en")).status_code == 404  # its source language
    assert client.get(url(draft, language="fr")).status_code == 404
    other = make_scenario(make_study("other", languages=["en", "de"]), "x")
    assert (
        client.get(
            reverse("studies:scenario_translation", args=[draft.slug, "de", other.pk])
        ).status_code
        == 404
    )
    assert post(client, draft, language="en").status_code == 404
    assert not ScenarioTranslation.objects.exists()


@pytest.mark.parametrize("role", [None, Role.ANALYST, Role.BLINDED_ANALYST, Role.AUDITOR])
def test_others_get_404_and_change_nothing(client, bob, draft, role):
    if role is not None:
        make_member(draft, bob, role)
    client.force_login(bob)
    assert client.get(url(draft)).status_code == 404
    assert post(client, draft).status_code == 404
    assert not ScenarioTranslation.objects.exists()


def test_the_translation_pages_and_the_scenario_page_link_here(client, alice, draft):
    client.force_login(alice)
    assert post(client, draft).status_code == 302
    pages = [
        reverse("studies:translations", args=[draft.slug]),
        reverse("studies:translation", args=[draft.slug, "de"]),
    ]
    for page in pages:
        html = client.get(page).content.decode()
        assert 'data-scenario="s1" data-state="current"' in html, page
        assert 'data-scenario="s2" data-state="missing"' in html, page
        assert url(draft, "s1") in html and url(draft, "s2") in html, page
        assert "admin" not in html.split("<main", 1)[-1], page
    html = client.get(reverse("studies:scenario_edit", args=[draft.slug, scenario(draft).pk]))
    html = html.content.decode()
    assert 'id="scenario-translations"' in html and url(draft, "s1") in html
    assert ">Deutsch</a>" in html
    one_language = make_study("monolingual", languages=["en"])
    make_member(one_language, alice)
    solo = make_scenario(one_language, "s1")
    html = client.get(reverse("studies:scenario_edit", args=[one_language.slug, solo.pk]))
    assert 'id="scenario-translations"' not in html.content.decode()


def test_the_launch_checklist_sends_a_missing_scenario_translation_to_its_page(alice, draft):
    make_translation(draft)  # the study's texts and every scenario
    ScenarioTranslation.objects.filter(scenario__key="s2").delete()
    problems = design_problems(study=draft, arms=list(draft.arms.all()))
    translation = [p for p in problems if p.code == "translations"]
    assert len(translation) == 1 and translation[0].url == url(draft, "s2")
    # An incomplete one (a section added to the scenario since) is refused too.
    ScenarioTranslation.objects.filter(scenario__key="s1").update(sections=[])
    problems = design_problems(study=draft, arms=list(draft.arms.all()))
    translation = [p for p in problems if p.code == "translations"]
    assert len(translation) == 1 and translation[0].url == url(draft, "s1")
    assert "scenario s1 v1 (the sections (the scenario has 2, this 0))" in translation[0].message


def test_an_earlier_version_leads_to_the_active_one(client, alice, draft):
    client.force_login(alice)
    old = scenario(draft)
    Scenario.objects.filter(pk=old.pk).update(is_active=False)
    new = make_scenario(draft, "s1", version=2)
    response = client.get(reverse("studies:scenario_translation", args=[draft.slug, "de", old.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "studies:scenario_translation", args=[draft.slug, "de", new.pk]
    )


def _live_in_german(client, alice, draft):
    """The study's texts translated, the scenarios on this page, then live; a German
    participant at their first task."""
    make_translation(draft)
    ScenarioTranslation.objects.all().delete()  # the scenarios': from the page
    client.force_login(alice)
    assert post(client, draft, "s1").status_code == 302
    assert (
        post(
            client,
            draft,
            "s2",
            title="Kopfweh",
            section_0_text="Sie sind mit Kopfschmerzen aufgewacht.",
            section_1_text="Sie nehmen keine Medikamente.",
        ).status_code
        == 302
    )
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.LIVE)
    client.logout()
    flow = enter(client, draft, lang="de")
    assert flow.participant.language == "de"
    flow.post("consent", {"agree": "1"})
    flow.post("instructions")
    return flow


def test_a_german_participant_reads_the_scenario_saved_here(client, alice, draft):
    flow = _live_in_german(client, alice, draft)
    key = flow.participant.tasks.order_by("position").first().scenario.key
    task = flow.home().content.decode()
    german, english = {
        "s1": ("Sie spielen die Rolle einer Person (s1).", "You are playing the part"),
        "s2": ("Sie sind mit Kopfschmerzen aufgewacht.", "You woke up with a headache."),
    }[key]
    assert german in task and english not in task
    assert ("Bauchschmerzen" if key == "s1" else "Kopfweh") in task


def test_a_version_german_participants_read_is_kept_a_correction_makes_the_next(
    client, alice, draft
):
    flow = _live_in_german(client, alice, draft)
    read = flow.participant.tasks.order_by("position").first().scenario
    client.force_login(alice)
    page = reverse("studies:scenario_translation", args=[draft.slug, "de", read.pk])
    assert 'id="scenario-translation-read"' in client.get(page).content.decode()
    before = ScenarioTranslation.objects.get(scenario=read, language="de").sections
    response = client.post(page, form_data(title="Korrigiert", source=page_digest(read)))
    assert response.status_code == 302
    new = Scenario.objects.get(study=draft, key=read.key, is_active=True)
    assert new.version == read.version + 1
    assert response["Location"] == reverse(
        "studies:scenario_translation", args=[draft.slug, "de", new.pk]
    )
    # What the participant read stays as they read it.
    kept = ScenarioTranslation.objects.get(scenario=read, language="de")
    assert kept.sections == before and kept.title != "Korrigiert"
    assert ScenarioTranslation.objects.get(scenario=new, language="de").title == "Korrigiert"


def test_a_section_a_draft_left_empty_is_read_in_the_source(client, alice, draft):
    client.force_login(alice)
    assert post(client, draft, section_1_text="").status_code == 302
    text = scenario_text(scenario=scenario(draft), language="de")
    assert text.title == "Bauchschmerzen"
    assert text.sections == [
        {"heading": "Ihre Lage", "text": "Sie spielen die Rolle einer Person (s1)."},
        {"heading": "Vorgeschichte", "text": "No known allergies."},
    ]


def test_saving_a_scenario_says_when_its_translations_fall_behind(client, alice, draft):
    from django.contrib.messages import get_messages

    from tests.studies.test_builder import scenario_data

    client.force_login(alice)
    assert post(client, draft).status_code == 302
    s1 = scenario(draft)
    edit = reverse("studies:scenario_edit", args=[draft.slug, s1.pk])
    # A wording change of the title only: the German translation is out of date.
    data = scenario_data(
        draft,
        key="s1",
        title="A new title",
        section_heading=[s["heading"] for s in s1.sections],
        section_text=[s["text"] for s in s1.sections],
    )
    response = client.post(edit, data)
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("s1's translations need work: Deutsch (out of date)" in m for m in said), said
    # A section added: incomplete.
    data["section_heading"] = [*data["section_heading"], "New"]
    data["section_text"] = [*data["section_text"], "A new section."]
    response = client.post(edit, data)
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Deutsch (incomplete)" in m for m in said), said
