"""The builder's translation pages: /studies/<slug>/translations/ (each language's state)
and /studies/<slug>/translations/<language>/ (the study's texts in that language, each
source text above its field). CHANGE_STUDY; 404 for anyone else, and for a language the
study does not offer after its first. Writes are studies.builder_translations'."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.forms import add_validation_error
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import builder_translations, roles
from studyapp.studies.forms_translations import StudyTranslationForm
from studyapp.studies.models import Study, StudyTranslation
from studyapp.studies.translations import study_translation_gaps, translation_status


def _language_name(language: str) -> str:
    return str(dict(settings.LANGUAGES).get(language, language))


@require_GET
@login_required_htmx
def translation_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    statuses = [
        {"status": status, "name": _language_name(status.language)}
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
    data, made_from = None, ""
    if request.method == "POST":
        # The form comes back made from the source as it is now, whatever happens.
        data = request.POST.copy()
        made_from = data.get("source", "")
        data["source"] = builder_translations.page_digest(study)
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
    status = next(s for s in translation_status(study=study) if s.language == language)
    gaps = study_translation_gaps(study, translation) if translation else []
    texts = {"the study's texts", *gaps}
    context = {
        "study": study,
        "form": form,
        "language": language,
        "language_name": _language_name(language),
        "source_name": _language_name(study.languages[0]),
        "translation": translation,
        "gaps": gaps,
        "is_current": translation is not None and translation.is_current,
        # The scenarios' translations are the admin's (for now): said here, not edited.
        "scenario_gaps": [g for g in status.gaps if g not in texts],
        "scenario_out_of_date": [g for g in status.out_of_date if g not in texts],
    }
    return render(request, "studies/translation.html", context, status=400 if form.errors else 200)
