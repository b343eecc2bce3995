"""The investigators' questionnaire builder: /studies/<slug>/questionnaires/... (htmx
where the page has it: the items list is swapped in place; plain forms and redirects
without it)."""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.forms import Form
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from studyapp.accounts.decorators import login_required_htmx
from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.forms import add_validation_error, page_posted
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.questionnaires import selectors, services
from studyapp.questionnaires.forms import (
    ItemForm,
    QuestionnaireForm,
    QuestionnaireTranslationForm,
)
from studyapp.questionnaires.models import Item, Questionnaire, QuestionnaireTranslation, Response
from studyapp.questionnaires.translations import page_digest, translation_states
from studyapp.studies.models import Study


def _questionnaire(study: Study, pk: int) -> Questionnaire:
    return get_object_or_404(Questionnaire, pk=pk, study=study)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def questionnaire_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug)
    form = QuestionnaireForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.questionnaire_create(study=study, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, f"Questionnaire “{created.key}” created: add its items.")
            return redirect("questionnaires:edit", slug=study.slug, pk=created.pk)
    questionnaires = selectors.study_questionnaires_with_items(study_id=study.pk)
    states: dict[int, list] = {}
    for state in translation_states(study=study, questionnaires=questionnaires):
        states.setdefault(state.questionnaire.pk, []).append(state)
    context = {
        "study": study,
        "questionnaires": [(q, states.get(q.pk, [])) for q in questionnaires],
        "locked": selectors.study_locked_questionnaire_ids(study_id=study.pk),
        "form": form,
    }
    return render(request, "questionnaires/list.html", context, status=400 if form.errors else 200)


def _edit_context(study: Study, questionnaire: Questionnaire, **forms) -> dict:
    return {
        "study": study,
        "questionnaire": questionnaire,
        "items": selectors.questionnaire_items(questionnaire=questionnaire),
        "locked": selectors.questionnaire_locked(questionnaire=questionnaire),
        "form": forms.get("form") or QuestionnaireForm.for_questionnaire(questionnaire),
        "item_form": forms.get("item_form") or ItemForm(questionnaire=questionnaire),
        "editing": forms.get("editing"),
        "translations": translation_states(study=study, questionnaires=[questionnaire]),
    }


def _items_response(
    request: AuthenticatedHttpRequest, study: Study, questionnaire: Questionnaire, **forms
) -> HttpResponse:
    """The items section (htmx) or the whole page, with any invalid form in place."""
    context = _edit_context(study, questionnaire, **forms)
    status = (
        400
        if any(f is not None and f.errors for f in forms.values() if isinstance(f, Form))
        else 200
    )
    template = "questionnaires/edit.html#items" if request.htmx else "questionnaires/edit.html"
    return render(request, template, context, status=status)


def _after_write(request: AuthenticatedHttpRequest, study: Study, questionnaire: Questionnaire):
    if request.htmx:
        return _items_response(request, study, questionnaire)
    return redirect("questionnaires:edit", slug=study.slug, pk=questionnaire.pk)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def questionnaire_edit(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug)
    questionnaire = _questionnaire(study, pk)
    if request.method == "GET":
        return render(request, "questionnaires/edit.html", _edit_context(study, questionnaire))
    form = QuestionnaireForm(request.POST)
    if form.is_valid():
        try:
            services.questionnaire_update(questionnaire_id=questionnaire.pk, **form.cleaned_data)
        except services.QuestionnaireLockedError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("questionnaires:edit", slug=study.slug, pk=questionnaire.pk)
    questionnaire.refresh_from_db()
    context = _edit_context(study, questionnaire, form=form)
    return render(request, "questionnaires/edit.html", context, status=400)


@require_POST
@login_required_htmx
def questionnaire_delete(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug)
    questionnaire = _questionnaire(study, pk)
    try:
        services.questionnaire_delete(questionnaire_id=questionnaire.pk)
    except services.QuestionnaireLockedError as exc:
        messages.error(request, str(exc))
        return redirect("questionnaires:edit", slug=study.slug, pk=questionnaire.pk)
    messages.success(request, f"Questionnaire “{questionnaire.key}” deleted.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("questionnaires:list", args=[study.slug]))
    return redirect("questionnaires:list", slug=study.slug)


@require_POST
@login_required_htmx
def item_add(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug)
    questionnaire = _questionnaire(study, pk)
    form = ItemForm(request.POST, questionnaire=questionnaire)
    write = functools.partial(services.item_create, questionnaire_id=questionnaire.pk)
    if (done := _item_save(request, study, questionnaire, form, write)) is not None:
        return done
    return _items_response(request, study, questionnaire, item_form=form)


def _item_save(request, study: Study, questionnaire: Questionnaire, form, write):
    """Write a valid item form (`write(data=...)`): the items' response once written, or
    None with the form's errors set for the caller to show."""
    if not form.is_valid():
        return None
    try:
        write(data=form.item_data())
    except services.QuestionnaireLockedError as exc:
        # The page no longer shows the form (frozen): say it above the items.
        messages.error(request, str(exc))
    except ValidationError as exc:
        add_validation_error(form, exc)
        return None
    except IntegrityError:
        form.add_error("key", "Another item of this questionnaire has this key.")
        return None
    return _after_write(request, study, questionnaire)


@require_http_methods(["GET", "POST"])
@login_required_htmx
def item_edit(request: AuthenticatedHttpRequest, slug: str, pk: int, item_pk: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug)
    questionnaire = _questionnaire(study, pk)
    item = get_object_or_404(Item, pk=item_pk, questionnaire=questionnaire)
    if request.method == "GET":
        editing = (item, ItemForm.for_item(item))
        return _items_response(request, study, questionnaire, editing=editing)
    form = ItemForm(request.POST, questionnaire=questionnaire, item=item)
    write = functools.partial(services.item_update, item_id=item.pk)
    if (done := _item_save(request, study, questionnaire, form, write)) is not None:
        return done
    return _items_response(request, study, questionnaire, editing=(item, form))


@require_POST
@login_required_htmx
def item_move(request: AuthenticatedHttpRequest, slug: str, pk: int, item_pk: int) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug)
    questionnaire = _questionnaire(study, pk)
    item = get_object_or_404(Item, pk=item_pk, questionnaire=questionnaire)
    try:
        services.item_move(item_id=item.pk, up=request.POST.get("direction") == "up")
    except (services.QuestionnaireLockedError, services.ItemInUseError) as exc:
        messages.error(request, str(exc))
    return _after_write(request, study, questionnaire)


@require_POST
@login_required_htmx
def item_delete(
    request: AuthenticatedHttpRequest, slug: str, pk: int, item_pk: int
) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug)
    questionnaire = _questionnaire(study, pk)
    item = get_object_or_404(Item, pk=item_pk, questionnaire=questionnaire)
    try:
        services.item_delete(item_id=item.pk)
    except (services.QuestionnaireLockedError, services.ItemInUseError) as exc:
        messages.error(request, str(exc))
    return _after_write(request, study, questionnaire)


# --- Translations (questionnaires.translations) ---------------------------------------------


def _translation_language(study: Study, language: str) -> str:
    """One of the study's languages after its first (404 otherwise: nothing to translate)."""
    if language not in (study.languages or [])[1:]:
        raise Http404("The study does not offer this language, or is written in it.")
    return language


def _translation_context(
    study: Study, questionnaire: Questionnaire, language: str, form=None, saved=False
) -> dict:
    items = selectors.questionnaire_items(questionnaire=questionnaire)
    translation = QuestionnaireTranslation.objects.filter(
        questionnaire=questionnaire, language=language
    ).first()
    state = translation_states(study=study, questionnaires=[questionnaire])
    return {
        "study": study,
        "questionnaire": questionnaire,
        "language": language,
        "language_name": dict(settings.LANGUAGES).get(language, language),
        "translation": translation,
        "state": next(s for s in state if s.language == language),
        "locked": translation is not None
        and Response.objects.filter(questionnaire=questionnaire, language=language).exists(),
        "form": form
        or QuestionnaireTranslationForm(
            questionnaire=questionnaire,
            items=items,
            translation=translation,
            made_from=page_digest(questionnaire, items),
        ),
        "saved": saved,
    }


@require_http_methods(["GET", "POST"])
@login_required_htmx
def translation_edit(
    request: AuthenticatedHttpRequest, slug: str, pk: int, language: str
) -> HttpResponse:
    """The questionnaire's translation into `language`: each source text beside its field
    (htmx swaps the form in place; without it, a redirect to the questionnaire)."""
    study = study_get_for_user_or_404(request.user, slug)
    questionnaire = _questionnaire(study, pk)
    language = _translation_language(study, language)
    template = "questionnaires/translation.html"
    if request.method == "GET":
        return render(request, template, _translation_context(study, questionnaire, language))
    items = selectors.questionnaire_items(questionnaire=questionnaire)
    data, made_from = page_posted(request, page_digest(questionnaire, items))
    form = QuestionnaireTranslationForm(data, questionnaire=questionnaire, items=items)
    if form.is_valid():
        try:
            services.questionnaire_translation_save(
                questionnaire_id=questionnaire.pk,
                language=language,
                data=form.translation_data(),
                made_from=made_from,
            )
        except services.TranslationLockedError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            if request.htmx:
                context = _translation_context(study, questionnaire, language, saved=True)
                return render(request, f"{template}#form", context)
            messages.success(request, f"The translation into {language} is saved.")
            return redirect("questionnaires:edit", slug=study.slug, pk=questionnaire.pk)
    context = _translation_context(study, questionnaire, language, form=form)
    return render(request, f"{template}#form" if request.htmx else template, context, status=400)


@require_POST
@login_required_htmx
def translation_delete(
    request: AuthenticatedHttpRequest, slug: str, pk: int, language: str
) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug)
    questionnaire = _questionnaire(study, pk)
    language = _translation_language(study, language)
    try:
        services.questionnaire_translation_delete(
            questionnaire_id=questionnaire.pk, language=language
        )
    except services.TranslationLockedError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The translation into {language} is deleted.")
    url = reverse("questionnaires:edit", args=[study.slug, questionnaire.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
