"""Questionnaire translations (questionnaires.translations): a participant reads the
questionnaire in their language and answers in the source's values; an edit of the source
marks a translation out of date; investigators translate on the builder, field by field;
the launch checklist names what a language lacks; design files carry them."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from studyapp.audit.models import AuditEntry
from studyapp.participation.selectors import StepKind, participant_current_step
from studyapp.questionnaires import services
from studyapp.questionnaires.models import ItemAnswer, QuestionnaireTranslation, Response
from studyapp.questionnaires.translations import State, page_digest, translation_states
from studyapp.studies.design_files import (
    DesignFileError,
    design_dumps,
    design_export,
    design_import,
    design_loads,
)
from studyapp.studies.launch import design_problems
from studyapp.studies.models import Study, TranslationMethod
from tests.factories import make_translation
from tests.participation.conftest import enter
from tests.questionnaires.conftest import YES_NO, add_baseline

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
GERMAN_ITEMS = {
    "uses_llm": {"text": "Nutzen Sie Chatbots?", "options": {"yes": "Ja", "no": "Nein"}},
    "how_often": {"text": "Wie oft?", "anchor_low": "Selten", "anchor_high": "Täglich"},
    "age": {"text": "Ihr Alter"},
}


def german(questionnaire, **changes) -> QuestionnaireTranslation:
    data = {
        "method": TranslationMethod.PROFESSIONAL,
        "translated_by": "Übersetzungsbüro",
        "title": "Über Sie",
        "intro": "",
        "items": copy.deepcopy(GERMAN_ITEMS),
    }
    data.update(changes)
    return services.questionnaire_translation_save(
        questionnaire_id=questionnaire.pk, language="de", data=data
    )


@pytest.fixture
def bilingual(control_study: Study) -> Study:
    make_translation(control_study, "de")  # the study's texts and scenarios; adds "de"
    control_study.refresh_from_db()
    assert control_study.languages == ["en", "de"]
    return control_study


@pytest.fixture
def baseline(bilingual: Study):
    return add_baseline(bilingual)


def _state(study, questionnaire, language="de"):
    [state] = [
        s
        for s in translation_states(study=study, questionnaires=[questionnaire])
        if s.language == language
    ]
    return state


def _questionnaire_page(flow) -> str:
    response = flow.home()
    assert response.status_code == 200
    assert participant_current_step(flow.refresh()).kind == StepKind.QUESTIONNAIRE
    return response.content.decode()


# --- What participants read -----------------------------------------------------------------


def test_a_german_participant_reads_german_items_and_the_answer_is_stored_by_value(
    baseline, client
):
    german(baseline)
    flow = enter(client, baseline.study, lang="de")
    flow.post("consent", {"agree": "1"})
    page = _questionnaire_page(flow)
    for text in ("Über Sie", "Nutzen Sie Chatbots?", "Ja", "Nein", "Wie oft?", "Ihr Alter"):
        assert text in page, text
    assert "1 = Selten" in page and "5 = Täglich" in page
    assert "Do you use chatbots?" not in page and "About you" not in page
    # The options submit the source's values.
    assert 'value="yes"' in page and 'value="no"' in page
    response = flow.client.post(
        flow.url("questionnaire", pk=baseline.pk),
        {"q-uses_llm": "yes", "q-how_often": "4", "q-age": "40"},
    )
    assert response.status_code == 302
    answer = ItemAnswer.objects.get(item__key="uses_llm", response__participant=flow.participant)
    assert answer.text == "yes"
    assert Response.objects.get(participant=flow.participant).language == "de"


def test_an_english_participant_of_the_same_study_reads_the_source(baseline, client):
    german(baseline)
    flow = enter(client, baseline.study, lang="en")
    flow.post("consent", {"agree": "1"})
    page = _questionnaire_page(flow)
    assert "Do you use chatbots?" in page and "Nutzen Sie" not in page


def test_without_a_translation_the_source_is_shown_and_the_response_says_so(baseline, client):
    flow = enter(client, baseline.study, lang="de")
    flow.post("consent", {"agree": "1"})
    page = _questionnaire_page(flow)
    assert "Do you use chatbots?" in page and "About you" in page
    flow.client.post(
        flow.url("questionnaire", pk=baseline.pk), {"q-uses_llm": "no", "q-age": "30"}
    )
    # Read in the source language, whatever the participant's.
    assert Response.objects.get(participant=flow.participant).language == "en"


def test_refused_answers_come_back_in_german_beside_their_item(baseline, client):
    german(baseline)
    flow = enter(client, baseline.study, lang="de")
    flow.post("consent", {"agree": "1"})
    response = flow.client.post(flow.url("questionnaire", pk=baseline.pk), {"q-age": "40"})
    page = response.content.decode()
    assert "Nutzen Sie Chatbots?" in page and "Ja" in page
    assert not Response.objects.filter(participant=flow.participant).exists()


def test_an_out_of_date_translation_is_still_shown_and_a_new_item_falls_back(baseline, client):
    german(baseline)
    study = baseline.study
    assert _state(study, baseline).state == State.CURRENT
    item = baseline.items.get(key="age")
    services.item_update(item_id=item.pk, data={"text": "Your age in years"})
    state = _state(study, baseline)
    assert state.state == State.OUT_OF_DATE and not state.gaps
    services.item_create(
        questionnaire_id=baseline.pk,
        data={"key": "gender", "kind": "text", "text": "Your gender", "required": False},
    )
    state = _state(study, baseline)
    assert state.state == State.INCOMPLETE
    assert state.gaps == ["the question of item gender"]

    flow = enter(client, study, lang="de")
    flow.post("consent", {"agree": "1"})
    page = _questionnaire_page(flow)
    # As for scenarios: the translation is shown, each piece it lacks in the source.
    assert "Ihr Alter" in page and "Your gender" in page

    # Saving it again says it matches the source as it is now.
    german(baseline, items={**GERMAN_ITEMS, "gender": {"text": "Ihr Geschlecht"}})
    assert _state(study, baseline).state == State.CURRENT


def test_an_edited_option_label_marks_the_translation_out_of_date(baseline):
    german(baseline)
    item = baseline.items.get(key="uses_llm")
    options = [{"value": "yes", "label": "Yes, often"}, {"value": "no", "label": "No"}]
    services.item_update(item_id=item.pk, data={"options": options})
    assert _state(baseline.study, baseline).state == State.OUT_OF_DATE


# --- The model's checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"nothing": {"text": "x"}}, "no item 'nothing' in the questionnaire"),
        ({"uses_llm": {"options": {"maybe": "Vielleicht"}}}, "item uses_llm: no option 'maybe'"),
        ({"age": {"text": 3}}, "item age: text is text"),
        ({"age": {"colour": "blau"}}, "item age: an object of text, options"),
        ({"how_often": {"anchor_low": "x" * 81}}, "anchor_low has 80 characters at most"),
    ],
)
def test_a_translation_naming_what_the_questionnaire_lacks_is_refused(baseline, items, message):
    with pytest.raises(ValidationError) as caught:
        german(baseline, items=items)
    assert message in " ".join(caught.value.message_dict["items"])


def test_the_first_language_and_one_not_offered_are_refused(baseline):
    def save(language):
        with pytest.raises(ValidationError) as caught:
            services.questionnaire_translation_save(
                questionnaire_id=baseline.pk,
                language=language,
                data={"method": "machine", "translated_by": "x", "title": "t", "items": {}},
            )
        return caught.value.message_dict["language"][0]

    assert "The study is written in this language" in save("en")
    Study.objects.filter(pk=baseline.study_id).update(languages=["en"])
    assert save("de") == "The study does not offer this language."


def test_a_translation_read_by_participants_is_frozen_but_a_new_language_may_come(
    baseline, client
):
    german(baseline)
    flow = enter(client, baseline.study, lang="de")
    flow.post("consent", {"agree": "1"})
    flow.client.post(
        flow.url("questionnaire", pk=baseline.pk), {"q-uses_llm": "no", "q-age": "30"}
    )
    with pytest.raises(services.TranslationLockedError):
        german(baseline, title="Über dich")
    with pytest.raises(services.TranslationLockedError):
        services.questionnaire_translation_delete(questionnaire_id=baseline.pk, language="de")
    assert QuestionnaireTranslation.objects.get().title == "Über Sie"


# --- The builder ---------------------------------------------------------------------------


def _url(questionnaire, language="de", name="translation"):
    return reverse(
        f"questionnaires:{name}", args=[questionnaire.study.slug, questionnaire.pk, language]
    )


def _form(baseline, **changes) -> dict:
    items = {i.key: i for i in baseline.items.all()}
    data = {
        "method": "professional",
        "translated_by": "Übersetzungsbüro",
        "reviewed_by": "",
        "translated_on": "2026-11-01",
        "notes": "",
        "title": "Über Sie",
        f"item{items['uses_llm'].pk}_text": "Nutzen Sie Chatbots?",
        f"item{items['uses_llm'].pk}_option0": "Ja",
        f"item{items['uses_llm'].pk}_option1": "Nein",
        f"item{items['how_often'].pk}_text": "Wie oft?",
        f"item{items['how_often'].pk}_anchor_low": "Selten",
        f"item{items['how_often'].pk}_anchor_high": "Täglich",
        f"item{items['age'].pk}_text": "Ihr Alter",
        "source": page_digest(baseline, list(baseline.items.all())),  # as the page posts it
    }
    data.update(changes)
    return data


def test_the_questionnaire_page_lists_each_language_and_its_state(client, alice, baseline):
    client.force_login(alice)
    edit = reverse("questionnaires:edit", args=[baseline.study.slug, baseline.pk])
    page = client.get(edit).content.decode()
    assert 'id="translation-de"' in page and "missing" in page and _url(baseline) in page
    listing = reverse("questionnaires:list", args=[baseline.study.slug])
    assert "missing" in client.get(listing).content.decode()
    german(baseline)
    assert "current" in client.get(edit).content.decode()
    assert "current" in client.get(listing).content.decode()


def test_an_investigator_translates_field_by_field(client, alice, baseline):
    client.force_login(alice)
    page = client.get(_url(baseline)).content.decode()
    # Each source text beside its field, no JSON to type.
    assert "Do you use chatbots?" in page and "Rarely" in page
    items = {i.key: i for i in baseline.items.all()}
    assert f'name="item{items["uses_llm"].pk}_option0"' in page
    response = client.post(_url(baseline), _form(baseline))
    assert response.status_code == 302
    translation = QuestionnaireTranslation.objects.get(questionnaire=baseline, language="de")
    assert translation.items == GERMAN_ITEMS
    assert (translation.method, translation.translated_by) == ("professional", "Übersetzungsbüro")
    assert translation.is_current
    # The form shows what was saved.
    assert 'value="Nein"' in client.get(_url(baseline)).content.decode()
    assert AuditEntry.objects.filter(
        object_type="questionnaires.questionnairetranslation",
        study_id=baseline.study_id,
        action="create",
    ).exists()


def test_the_builder_says_each_problem_beside_its_field(client, alice, baseline):
    client.force_login(alice)
    items = {i.key: i for i in baseline.items.all()}
    anchor = f"item{items['how_often'].pk}_anchor_low"
    response = client.post(
        _url(baseline), _form(baseline, translated_by="", **{anchor: "x" * 81}), **HTMX
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "<html" not in page and 'id="translation-form"' in page
    assert 'id="id_translated_by-error"' in page
    assert f'id="id_{anchor}-error"' in page and "at most 80 characters" in page
    assert not QuestionnaireTranslation.objects.exists()


def test_an_htmx_save_swaps_the_form_with_its_missing_pieces(client, alice, baseline):
    client.force_login(alice)
    items = {i.key: i for i in baseline.items.all()}
    response = client.post(
        _url(baseline), _form(baseline, **{f"item{items['age'].pk}_text": ""}), **HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="translation-saved"' in page and "the question of item age" in page
    assert "age" not in QuestionnaireTranslation.objects.get().items


def _made_from(page: str) -> str:
    return page.split('name="source" value="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(
    "options",
    [
        [{"value": "no", "label": "No"}, {"value": "yes", "label": "Yes"}],  # reordered
        [{"value": "often", "label": "Often"}, *YES_NO],  # one added before the others
        [{"value": "yes", "label": "Yes, at least weekly"}, {"value": "no", "label": "No"}],
    ],
)
def test_a_save_from_a_page_opened_before_the_items_changed_is_refused(
    client, alice, baseline, options
):
    client.force_login(alice)
    made_from = _made_from(client.get(_url(baseline)).content.decode())
    # Meanwhile the options of uses_llm change: its fields follow them by position, so
    # the old page's "Ja" (option0) would now label whatever option comes first.
    uses_llm = baseline.items.get(key="uses_llm")
    services.item_update(item_id=uses_llm.pk, data={"options": options})
    for headers in (HTMX, {}):
        response = client.post(_url(baseline), _form(baseline, source=made_from), **headers)
        page = response.content.decode()
        assert response.status_code == 400
        assert 'id="translation-errors"' in page and "Nothing was saved" in page
        assert not QuestionnaireTranslation.objects.exists()
    # The page that says so is made from the questionnaire as it is now: it saves.
    fresh = _made_from(page)
    assert fresh != made_from
    labels = {"yes": "Ja", "no": "Nein", "often": "Oft"}
    fields = {f"item{uses_llm.pk}_option{i}": labels[o["value"]] for i, o in enumerate(options)}
    response = client.post(_url(baseline), _form(baseline, source=fresh, **fields))
    assert response.status_code == 302
    saved = QuestionnaireTranslation.objects.get().items["uses_llm"]["options"]
    assert saved == {o["value"]: labels[o["value"]] for o in options}


def test_moving_an_item_does_not_refuse_an_open_page(client, alice, baseline):
    # Fields are named by the item, not its place: only options follow by position.
    client.force_login(alice)
    made_from = _made_from(client.get(_url(baseline)).content.decode())
    services.item_move(item_id=baseline.items.get(key="age").pk, up=True)
    response = client.post(_url(baseline), _form(baseline, source=made_from))
    assert response.status_code == 302
    assert QuestionnaireTranslation.objects.get().items == GERMAN_ITEMS


def test_a_language_the_study_does_not_translate_into_is_not_found(client, alice, baseline):
    client.force_login(alice)
    assert client.get(_url(baseline, "en")).status_code == 404
    assert client.get(_url(baseline, "fr")).status_code == 404


def test_someone_outside_the_study_is_refused(client, charlie, baseline):
    client.force_login(charlie)
    assert client.get(_url(baseline)).status_code == 404
    assert client.post(_url(baseline), _form(baseline)).status_code == 404
    assert not QuestionnaireTranslation.objects.exists()


def test_a_translation_is_deleted_from_its_page(client, alice, baseline):
    german(baseline)
    client.force_login(alice)
    response = client.post(_url(baseline, name="translation_delete"))
    assert response.status_code == 302
    assert not QuestionnaireTranslation.objects.exists()


def test_texts_are_escaped_on_the_builder_and_the_participant_page(client, alice, baseline):
    script = "<script>alert(1)</script>"
    item = baseline.items.get(key="age")
    services.item_update(item_id=item.pk, data={"text": f"Age {script}"})
    german(
        baseline,
        title=f"Titel {script}",
        items={
            **GERMAN_ITEMS,
            "age": {"text": f"Alter {script}"},
            "uses_llm": {"text": "Chatbots?", "options": {"yes": "<b>Ja</b>", "no": "Nein"}},
        },
    )
    client.force_login(alice)
    builder = client.get(_url(baseline)).content.decode()
    assert script not in builder and "Age &lt;script&gt;" in builder
    client.logout()
    flow = enter(client, baseline.study, lang="de")
    flow.post("consent", {"agree": "1"})
    page = _questionnaire_page(flow)
    assert script not in page and "<b>Ja</b>" not in page
    assert "Alter &lt;script&gt;" in page and "&lt;b&gt;Ja&lt;/b&gt;" in page


# --- The launch checklist -------------------------------------------------------------------


def test_the_launch_checklist_names_what_each_language_lacks(baseline):
    study = baseline.study

    def problems():
        arms = list(study.arms.all())
        return [p for p in design_problems(study=study, arms=arms) if "Questionnaire" in p.message]

    [problem] = problems()
    assert problem.code == "translations"
    assert problem.message == "Questionnaire “baseline” in de: has no translation."
    assert problem.url == _url(baseline)
    german(baseline, items={"age": {"text": "Ihr Alter"}})
    [problem] = problems()
    assert "lacks the question of item uses_llm; the label of option yes of item uses_llm" in (
        problem.message
    )
    german(baseline)
    assert problems() == []
    # Out of date is shown on the builder, not refused (as for scenarios).
    services.item_update(item_id=baseline.items.get(key="age").pk, data={"text": "Age?"})
    assert problems() == []


# --- Design files ----------------------------------------------------------------------------


def test_a_design_round_trip_keeps_translations_and_their_state(baseline):
    german(baseline)
    exported = design_export(baseline.study)
    [spec] = exported["questionnaires"]
    [translation] = spec["translations"]
    assert translation["language"] == "de" and translation["items"] == GERMAN_ITEMS
    copy_study = design_import(design_loads(design_dumps(exported)), slug="copy")
    again = design_export(copy_study)
    assert again["questionnaires"] == exported["questionnaires"]
    copied = QuestionnaireTranslation.objects.get(questionnaire__study=copy_study)
    assert copied.is_current and copied.title == "Über Sie"

    # Out of date in the original, out of date in the copy.
    services.item_update(item_id=baseline.items.get(key="age").pk, data={"text": "Age?"})
    stale = design_import(design_export(baseline.study), slug="stale-copy")
    assert not QuestionnaireTranslation.objects.get(questionnaire__study=stale).is_current


def test_a_file_without_questionnaire_translations_imports(baseline):
    exported = design_export(baseline.study)
    del exported["questionnaires"][0]["translations"]
    study = design_import(exported, slug="older")
    assert study.questionnaires.get().translations.count() == 0


def test_a_bad_translation_in_a_file_is_named_and_creates_nothing(baseline):
    german(baseline)
    exported = design_export(baseline.study)
    exported["questionnaires"][0]["translations"][0]["items"]["nothing"] = {"text": "x"}
    with pytest.raises(DesignFileError) as caught:
        design_import(exported, slug="broken")
    assert any(
        e.startswith("questionnaires[baseline].translations[de].items: no item 'nothing'")
        for e in caught.value.errors
    ), caught.value.errors
    exported["questionnaires"][0]["translations"][0]["title"] = 3
    with pytest.raises(DesignFileError) as caught:
        design_import(exported, slug="broken")
    assert caught.value.errors == ["questionnaires[baseline].translations[de]: title must be text"]
    assert not Study.objects.filter(slug="broken").exists()
