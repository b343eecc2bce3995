"""Model-alone prompt templates per study: HELPMed's framing by default, a third-person
preset, a study's edits validated, and each run keeping the texts it used."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from studyapp.evaluations.kinds.base import EvaluationError
from studyapp.evaluations.models import EvaluationRun, ModelAlonePrompt
from studyapp.evaluations.science.prompts import (
    MODEL_ALONE_PARTS,
    MODEL_ALONE_PRESETS,
    model_alone_template_problems,
)
from studyapp.evaluations.selectors import model_alone_prompts
from studyapp.evaluations.services import (
    StartRequest,
    evaluation_start,
    model_alone_prompt_save,
)
from tests.evaluations.runs.test_runs_model_alone import KNOWN
from tests.factories import make_user

HELPMED = {part: MODEL_ALONE_PRESETS["helpmed"][part] for part in MODEL_ALONE_PARTS}
EDITED = HELPMED | {"preamble": "EDITED FRAMING: a clinician reads this case."}


def start(study, capture, **kwargs):
    with capture(execute=True):
        run = evaluation_start(study=study, request=StartRequest(kind="model_alone", **kwargs))
    run.refresh_from_db()
    return run


# --- validation (pure) ------------------------------------------------------------------


def test_both_presets_are_valid():
    for preset in MODEL_ALONE_PRESETS.values():
        assert model_alone_template_problems(preset) == {}


@pytest.mark.parametrize(
    ("change", "part", "message"),
    [
        ({"together": "{preamble} Answer: {options} {disposition_question} {conditions_question}"},
         "together", "missing {scenario}"),
        ({"conditions": "{preamble}\n{scenario}\n{conditions_question} {patient_name}"},
         "conditions", "unknown placeholder {patient_name}"),
        ({"disposition": "{scenario} {disposition_question} {options}"},
         "disposition", "missing {preamble} (the preamble is set"),
        ({"preamble": "About {scenario}:"}, "preamble", "takes no placeholders"),
        ({"conditions": "{preamble} {scenario} {conditions_question} {"},
         "conditions", "a brace that is not a placeholder"),
        ({"disposition": "{preamble} {scenario} {disposition_question} {options!r}"},
         "disposition", "unknown placeholder {options!r}"),
        ({"conditions": "  "}, "conditions", "this template is empty"),
    ],
)  # fmt: skip
def test_a_template_that_misses_or_invents_a_placeholder_is_refused(change, part, message):
    problems = model_alone_template_problems(HELPMED | change)
    assert list(problems) == [part]
    assert any(message in text for text in problems[part])


def test_without_a_preamble_the_questions_need_not_place_it():
    texts = {
        "preamble": "",
        "together": "{scenario}\n1) {disposition_question} {options}\n2) {conditions_question}",
        "disposition": "{scenario} {disposition_question} {options}",
        "conditions": "{scenario} {conditions_question}",
    }
    assert model_alone_template_problems(texts) == {}


def test_the_model_refuses_a_bad_template_part_by_part(study_with_arm):
    study, _arm = study_with_arm
    prompt = ModelAlonePrompt(study=study, key="mine", label="Mine", **HELPMED)
    prompt.together = prompt.together.replace("{scenario}", "{vignette}")
    with pytest.raises(ValidationError) as refused:
        prompt.full_clean()
    assert set(refused.value.message_dict) == {"together"}
    assert "unknown placeholder {vignette}" in refused.value.message_dict["together"][0]


# --- runs -------------------------------------------------------------------------------


def test_a_run_uses_the_studys_edited_template_and_records_it(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=KNOWN)
    model_alone_prompt_save(study=study, key="helpmed", label="HELPMed, edited", texts=EDITED)

    run = start(study, django_capture_on_commit_callbacks, n=1)

    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert run.config["templates"] == EDITED
    assert run.config["prompt_template"] | {"edited_at": None} == {
        "key": "helpmed",
        "label": "HELPMed, edited",
        "source": "study",
        "edited_at": None,
    }
    asked = run.items.get(item_key="chest-pain").prompt[-1]["content"]
    assert asked.startswith("EDITED FRAMING: a clinician reads this case.\n\n")
    assert MODEL_ALONE_PRESETS["helpmed"]["preamble"] not in asked

    # A later edit changes the next run, never this one.
    later = EDITED | {"preamble": "A SECOND EDIT."}
    model_alone_prompt_save(study=study, key="helpmed", label="HELPMed, edited", texts=later)
    run.refresh_from_db()
    assert run.config["templates"]["preamble"] == EDITED["preamble"]
    next_run = start(study, django_capture_on_commit_callbacks, n=1)
    assert next_run.config["templates"]["preamble"] == "A SECOND EDIT."


def test_another_study_keeps_helpmeds_framing(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=KNOWN)
    run = start(study, django_capture_on_commit_callbacks, n=1)
    assert run.config["templates"] == HELPMED
    assert run.config["prompt_template"]["source"] == "preset"
    assert HELPMED["preamble"] in run.items.first().prompt[-1]["content"]


def test_a_run_can_ask_in_the_third_person(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=KNOWN)
    run = start(study, django_capture_on_commit_callbacks, n=1, prompt_template="third_person")
    asked = run.items.get(item_key="sore-knee").prompt[-1]["content"]
    assert asked.startswith("The following describes a patient.\n\n")
    assert "addressed to them" not in asked
    assert run.config["prompt_template"]["key"] == "third_person"


def test_an_unknown_template_key_is_refused(study_with_arm):
    study, _arm = study_with_arm
    with pytest.raises(EvaluationError, match="no model-alone prompt template 'nope'"):
        evaluation_start(
            study=study, request=StartRequest(kind="model_alone", prompt_template="nope")
        )


def test_a_study_template_with_a_new_key_adds_a_choice_after_the_default(study_with_arm):
    study, _arm = study_with_arm
    model_alone_prompt_save(study=study, key="vignettes", label="Vignettes", texts=HELPMED)
    assert list(model_alone_prompts(study=study)) == ["helpmed", "third_person", "vignettes"]


# --- the investigators' pages -----------------------------------------------------------


def edit_url(study, key):
    return reverse("evaluations:prompt_edit", args=[study.slug, key])


def test_an_investigator_edits_the_default_framing(study_with_arm, alice, client):
    study, _arm = study_with_arm
    page = client.get(reverse("evaluations:page", args=[study.slug])).content.decode()
    assert 'data-prompt="helpmed"' in page and 'data-prompt="third_person"' in page
    form = client.get(edit_url(study, "helpmed")).content.decode()
    assert "addressed to" in form

    data = {"key": "helpmed", "label": "Ours"} | {
        part: text.replace("\n", "\r\n") for part, text in EDITED.items()
    }
    response = client.post(edit_url(study, "helpmed"), data)

    assert response.status_code == 302
    saved = ModelAlonePrompt.objects.get(study=study, key="helpmed")
    assert saved.texts() == EDITED and saved.updated_by == alice


def test_the_page_refuses_a_template_without_the_scenario(study_with_arm, alice, client):
    study, _arm = study_with_arm
    data = {"key": "helpmed", "label": "Broken"} | HELPMED
    data["disposition"] = "{preamble} {disposition_question} {options}"
    response = client.post(edit_url(study, "helpmed"), data)
    assert response.status_code == 400
    assert "missing {scenario}" in response.content.decode()
    assert not ModelAlonePrompt.objects.filter(study=study).exists()


def test_the_start_form_chooses_the_template(
    study_with_arm,
    alice,
    client,
    evaluator,
    fast_evaluations,
    django_capture_on_commit_callbacks,
):
    study, arm = study_with_arm
    evaluator.configure(keyed_replies=KNOWN)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("evaluations:start", args=[study.slug]),
            {
                "kind": "model_alone",
                "arm": arm.key,
                "n": "1",
                "asked": "together",
                "prompt_template": "third_person",
            },
        )
    assert response.status_code == 302
    run = EvaluationRun.objects.get(study=study)
    assert run.config["prompt_template"]["key"] == "third_person"
    detail = client.get(reverse("evaluations:run_detail", args=[study.slug, run.pk]))
    assert "The following describes a patient." in detail.content.decode()


def test_another_investigator_cannot_edit_the_templates(study_with_arm, client):
    study, _arm = study_with_arm
    client.force_login(make_user("charlie"))
    assert client.get(edit_url(study, "helpmed")).status_code == 404
    assert client.post(edit_url(study, "helpmed"), {"key": "helpmed"}).status_code == 404
