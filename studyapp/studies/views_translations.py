"""The builder's translation pages: /studies/<slug>/translations/ (each language's state,
with its scenarios'), /studies/<slug>/translations/<language>/ (the study's texts in that
language, each source text above its field) and .../<language>/scenarios/<id>/ (one
scenario version's). CHANGE_STUDY; 404 for anyone else, and for a language the study
does not offer after its first. Writes are studies.builder_translations' and
studies.builder_scenario_translations'."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.forms import add_validation_error, page_posted
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import builder_scenario_translations, builder_translations, roles
from studyapp.studies.forms_scenario_translations import ScenarioTranslationForm
from studyapp.studies.forms_translations import StudyTranslationForm
from studyapp.studies.models import Scenario, ScenarioTranslation, Study, StudyTranslation
from studyapp.studies.translations import (
    scenario_translation_gaps,
    scenario_translation_states,
    study_translation_gaps,
    translation_status,
)


def _language_name(language: str) -> str:
    return str(dict(settings.LANGUAGES).get(language, language))


@require_GET
@login_required_htmx
def translation_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    scenarios = scenario_translation_states(study=study)
    statuses = [
        {
            "status": status,
            "name": _language_name(status.language),
            "scenarios": [s for s in scenarios if s.language == status.language],
        }
        for status in translation_status(study=study)
    ]
    context = {
        "study": study,
        "source_name": _language_name(study.languages[0]) if study.languages else "",
        "statuses": statuses,
    }
    return render(request, "studies/translations.html", context)


def _form(study: Study, translation: StudyTranslation | None, data=None):
    return StudyTranslationForm(
        data,
        study=study,
        levels=list(study.disposition_scale.levels.all()),
        arms=list(study.arms.order_by("key")),
        translation=translation,
        complete=study.status != Study.Status.DRAFT,
        made_from=builder_translations.page_digest(study),
    )


@require_http_methods(["GET", "POST"])
@login_required_htmx
def translation_edit(request: AuthenticatedHttpRequest, slug: str, language: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    if language not in builder_translations.translation_languages(study):
        raise Http404("The study does not offer this language, or is written in it.")
    translation = StudyTranslation.objects.filter(study=study, language=language).first()
    data, made_from = page_posted(request, builder_translations.page_digest(study))
    form = _form(study, translation, data)
    if request.method == "POST" and form.is_valid():
        try:
            builder_translations.study_translation_save(
                study_id=study.pk,
                language=language,
                data=form.translation_data(),
                made_from=made_from,
                by=request.user,
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, f"The {_language_name(language)} translation is saved.")
            return redirect("studies:translation", slug=study.slug, language=language)
    gaps = study_translation_gaps(study, translation) if translation else []
    context = {
        "study": study,
        "form": form,
        "language": language,
        "language_name": _language_name(language),
        "source_name": _language_name(study.languages[0]),
        "translation": translation,
        "gaps": gaps,
        "is_current": translation is not None and translation.is_current,
        "scenarios": [
            s for s in scenario_translation_states(study=study) if s.language == language
        ],
    }
    return render(request, "studies/translation.html", context, status=400 if form.errors else 200)


def _scenario_form(study: Study, scenario: Scenario, translation, data=None):
    return ScenarioTranslationForm(
        data,
        scenario=scenario,
        translation=translation,
        complete=study.status != Study.Status.DRAFT,
        made_from=builder_scenario_translations.page_digest(scenario),
    )


@require_http_methods(["GET", "POST"])
@login_required_htmx
def scenario_translation_edit(
    request: AuthenticatedHttpRequest, slug: str, language: str, scenario_id: int
) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    if language not in builder_translations.translation_languages(study):
        raise Http404("The study does not offer this language, or is written in it.")
    scenario = get_object_or_404(Scenario, pk=scenario_id, study=study)
    if not scenario.is_active:
        active = get_object_or_404(Scenario, study=study, key=scenario.key, is_active=True)
        messages.error(request, builder_scenario_translations.SUPERSEDED)
        return redirect("studies:scenario_translation", study.slug, language, active.pk)
    translation = ScenarioTranslation.objects.filter(scenario=scenario, language=language).first()
    data, made_from = page_posted(request, builder_scenario_translations.page_digest(scenario))
    form = _scenario_form(study, scenario, translation, data)
    if request.method == "POST" and form.is_valid():
        try:
            saved = builder_scenario_translations.scenario_translation_save(
                study_id=study.pk,
                scenario_id=scenario.pk,
                language=language,
                data=form.translation_data(),
                made_from=made_from,
                by=request.user,
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            done = f"The {_language_name(language)} translation of {scenario.key} is saved"
            if saved.scenario_id != scenario.pk:
                done += (
                    f" on version {saved.scenario.version}, now the active one: participants "
                    f"read version {scenario.version} as it was"
                )
            messages.success(request, done + ".")
            return redirect(
                "studies:scenario_translation", study.slug, language, saved.scenario_id
            )
    context = {
        "study": study,
        "scenario": scenario,
        "form": form,
        "language": language,
        "language_name": _language_name(language),
        "source_name": _language_name(study.languages[0]),
        "translation": translation,
        "gaps": scenario_translation_gaps(scenario, translation) if translation else [],
        "is_current": translation is not None and translation.is_current,
        "read_in": builder_scenario_translations.read_in(scenario, language),
    }
    return render(
        request,
        "studies/scenario_translation.html",
        context,
        status=400 if form.errors else 200,
    )
