"""The participant flow: thin views over participation.services and .selectors.

Every view takes the token from the URL (the credential), loads that participant, binds
it to the browser session (for the chat socket) and shows only that participant's data.
GET `home` renders the current step from stored state, so a reload resumes exactly;
every POST redirects back to it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studyapp.core.client_ip import client_ip
from studyapp.core.forms import add_validation_error
from studyapp.participation.access import (
    participant_get_by_token,
    session_bind_participant,
    session_link_ids,
    task_for_participant,
)
from studyapp.participation.enrolment import (
    participant_expire,
    participant_is_inactive,
    participant_withdraw,
)
from studyapp.participation.forms import AnswerForm, CheckForm, ScreeningForm, SourcesForm
from studyapp.participation.instructions import instructions_for
from studyapp.participation.language import PARAMETER as LANGUAGE_PARAMETER
from studyapp.participation.language import (
    browser_language,
    language_choices,
    study_language_for,
)
from studyapp.participation.limits import Action, Limited, rate_limit
from studyapp.participation.models import Participant, Task
from studyapp.participation.prolific import (
    CODE_FIELD,
    OUTCOME_FOR_STATUS,
    PARAMS,
    BadEntryParameterError,
    EntryRefusal,
    Exit,
    Outcome,
    ProlificParams,
    outcome_exit,
    parse_prolific_params,
    prolific_entry_refusal,
    stratum_from_entry,
)
from studyapp.participation.selectors import (
    Step,
    StepKind,
    participant_current_step,
    study_disposition_levels,
)
from studyapp.participation.services import (
    AlreadyTookPartError,
    AlreadyWithdrawnError,
    FlowError,
    ResumeRefusedError,
    StudyFullError,
    StudyNotOpenError,
    StudyPausedError,
    answer_submit,
    participant_answer_check,
    participant_answer_screening,
    participant_check_new_entry,
    participant_consent,
    participant_decline,
    participant_enter,
    participant_read_instructions,
    participant_resume_for_entry,
    participant_touch,
    questionnaire_submit,
    task_save_sources,
)
from studyapp.questionnaires.models import Questionnaire
from studyapp.questionnaires.pages import item_fields, raw_from_post
from studyapp.questionnaires.selectors import questionnaire_items
from studyapp.questionnaires.translations import questionnaire_texts
from studyapp.studies.models import Study
from studyapp.studies.translations import LevelText, StudyTexts, scenario_text, study_texts

logger = logging.getLogger(__name__)


def _render(
    request: HttpRequest, template: str, context: dict, status: int | None = None
) -> HttpResponse:
    """render(), with the study's texts in the active language (the participant's, or the
    entry's) as `texts` wherever the page has a study."""
    if "study" in context and "texts" not in context:
        context["texts"] = study_texts(study=context["study"], language=translation.get_language())
    return render(request, template, context, status=status)


def study_exit(study: Study, outcome: Outcome) -> Exit:
    """The completion code and return URL the study set for this outcome."""
    codes = {name: getattr(study, name) for name in CODE_FIELD.values()}
    return outcome_exit(outcome=outcome, codes=codes, completion_url=study.completion_url)


@require_http_methods(["GET", "POST"])
@never_cache
def entry(request: HttpRequest, slug: str) -> HttpResponse:
    """The study link. GET shows the start page and writes nothing, so link previews, mail
    scanners and prefetching count nobody; its form POSTs the recruiter's parameters back,
    and only that POST enrols a new participant (or resumes a known one).

    A browser that already holds the participant goes straight back to them. Resuming is
    never rate limited; a new participant is (per address and per study), and a Prolific
    study enrols only links that carry a PROLIFIC_PID and its STUDY_ID.
    """
    study = get_object_or_404(Study, slug=slug)
    query = request.POST if request.method == "POST" else request.GET
    language = study_language_for(
        languages=study.languages, requested=query.get(LANGUAGE_PARAMETER, "")
    )
    with translation.override(language):
        response = _entry(request, study, query, language)
    response.headers.setdefault("Content-Language", language)
    return response


def _entry(request: HttpRequest, study: Study, query: QueryDict, language: str) -> HttpResponse:
    try:
        params = parse_prolific_params(query)
    except BadEntryParameterError as exc:
        logger.info("study %s: malformed entry parameter %s", study.pk, exc.name)
        context = {"study": study, "parameter": exc.name}
        return _render(request, "participation/bad_request.html", context, status=400)
    refusal = prolific_entry_refusal(prolific_study_id=study.prolific_study_id, params=params)
    if refusal == EntryRefusal.WRONG_STUDY:
        return _prolific_refused(request, study, refusal)
    held = session_link_ids(request.session)
    stratum_raw = query.get(study.stratum_parameter, "") if study.stratum_parameter else ""
    try:
        if request.method == "GET":
            return _entry_page(request, study, params, held, refusal, stratum_raw, language)
        participant = participant_resume_for_entry(study=study, params=params, held_link_ids=held)
        if participant is None:
            if refusal is not None:
                return _prolific_refused(request, study, refusal)
            limited = rate_limit(action=Action.ENTRY, study_id=study.pk, ip=client_ip(request))
            if limited is not None:
                retry = _entry_fields(params, study, stratum_raw, language)
                return _too_many(request, study, limited, retry_fields=retry)
            participant = participant_enter(
                study=study,
                params=params,
                held_link_ids=held,
                stratum=_entry_stratum(study, stratum_raw, language),
                language=language,
            )
    except ResumeRefusedError:
        context = {"study": study}
        return _render(request, "participation/resume_elsewhere.html", context, status=403)
    except StudyPausedError:
        # A holding page, not an error: the study will take them later.
        return _render(request, "participation/paused.html", {"study": study})
    except StudyNotOpenError:
        return _render(request, "participation/not_open.html", {"study": study})
    except StudyFullError:
        context = {"study": study, "exit": study_exit(study, Outcome.STUDY_FULL)}
        return _render(request, "participation/ended.html", context)
    except AlreadyWithdrawnError:
        return _render(request, "participation/withdrawn.html", {"study": study})
    except AlreadyTookPartError:
        return _render(request, "participation/already_took_part.html", {"study": study})
    session_bind_participant(request.session, participant)
    return redirect("participation:home", token=participant.token)


def _entry_stratum(study: Study, stratum_raw: str, language: str) -> str:
    """The allocation stratum known at entry: the participant's language, or the link's
    stratum parameter (a screening stratum is set later, by the answer)."""
    if study.stratum_source == Study.StratumSource.LANGUAGE:
        return language
    return stratum_from_entry(stratum_raw, study.stratum_values)


def _entry_page(
    request: HttpRequest,
    study: Study,
    params: ProlificParams,
    held: list[str],
    refusal: EntryRefusal | None,
    stratum_raw: str,
    language: str,
) -> HttpResponse:
    """What the POST would do, said without doing it: back to a participant this browser
    holds, the page that explains why nobody can start, or the start page."""
    existing = participant_resume_for_entry(study=study, params=params, held_link_ids=held)
    if existing is not None and existing.link_id in held:
        return redirect("participation:home", token=existing.token)
    if existing is None:
        if refusal is not None:
            return _prolific_refused(request, study, refusal)
        participant_check_new_entry(study=study, params=params)
    context = {
        "study": study,
        "fields": _entry_fields(params, study, stratum_raw, language),
        "resuming": existing is not None,
        # A chooser only when the study offers several languages and this is a new start.
        "languages": language_choices(study.languages) if existing is None else [],
        "language": language,
        "language_parameter": LANGUAGE_PARAMETER,
    }
    return _render(request, "participation/start.html", context)


def _entry_fields(
    params: ProlificParams, study: Study, stratum_raw: str, language: str
) -> list[tuple[str, str]]:
    """The link's parameters, as hidden fields of the form that enters (the language is
    the start page's chooser when the study offers several)."""
    fields = [(name, getattr(params, attr)) for name, attr in PARAMS.items()]
    if study.stratum_parameter:
        fields.append((study.stratum_parameter, stratum_raw))
    if len(study.languages) < 2:
        fields.append((LANGUAGE_PARAMETER, language))
    return [(name, value) for name, value in fields if value]


_REFUSAL_STATUS = {EntryRefusal.MISSING_PID: 400, EntryRefusal.WRONG_STUDY: 403}


def _prolific_refused(request: HttpRequest, study: Study, refusal: EntryRefusal) -> HttpResponse:
    logger.info("study %s: entry refused (%s)", study.pk, refusal)
    context = {"study": study, "refusal": refusal}
    return _render(
        request,
        "participation/open_from_prolific.html",
        context,
        status=_REFUSAL_STATUS[refusal],
    )


def _too_many(
    request: HttpRequest,
    study: Study,
    limited: Limited,
    *,
    retry_url: str = "",
    retry_fields: list[tuple[str, str]] | None = None,
) -> HttpResponse:
    """429 with Retry-After; the page tries again by itself: a GET of `retry_url`, or a
    POST of `retry_fields` to the study link (the entry)."""
    context = {
        "study": study,
        "retry_after_s": limited.retry_after_s,
        "retry_url": retry_url,
        "retry_post": retry_fields is not None,
        "retry_fields": retry_fields or [],
    }
    response = _render(request, "participation/busy.html", context, status=429)
    response["Retry-After"] = str(limited.retry_after_s)
    return response


ParticipantView = Callable[..., HttpResponse]


def participant_view(view: ParticipantView) -> Callable[..., HttpResponse]:
    """Resolve the signed token in the URL to the participant, or show a clear 404.

    Also where the time limit is enforced lazily: a participant inactive past it is timed
    out before anything else happens (the periodic task catches those who never return).
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, token: str, *args, **kwargs) -> HttpResponse:
        try:
            participant = participant_get_by_token(token)
        except Http404:
            logger.info("refused an unknown or altered participant link")
            with translation.override(browser_language(request)):
                return render(request, "participation/bad_link.html", status=404)
        if participant_is_inactive(participant, timezone.now()):
            participant_expire(participant_id=participant.pk)
            participant.refresh_from_db()
        session_bind_participant(request.session, participant)
        participant_touch(participant=participant)
        with translation.override(participant.language):
            try:
                response = view(request, participant, *args, **kwargs)
            except Http404:
                # E.g. a task position they do not have: said in their language.
                response = render(request, "participation/bad_link.html", status=404)
        response.headers.setdefault("Content-Language", participant.language)
        return response

    return wrapper


def _task_or_404(participant: Participant, position: int) -> Task:
    # Looked up through the participant: another participant's positions do not exist here.
    task = task_for_participant(participant, position)
    if task is None:
        raise Http404("No such task")
    return task


def _refused(request: HttpRequest, participant: Participant, exc: FlowError) -> HttpResponse:
    messages.warning(request, str(exc))
    return redirect("participation:home", token=participant.token)


@require_GET
@never_cache
@participant_view
def home(request: HttpRequest, participant: Participant) -> HttpResponse:
    return _render_step(request, participant, participant_current_step(participant))


def _render_step(
    request: HttpRequest,
    participant: Participant,
    step: Step,
    *,
    form: Form | None = None,
) -> HttpResponse:
    study = participant.study
    texts = study_texts(study=study, language=participant.language)
    context: dict = {"participant": participant, "study": study, "step": step, "texts": texts}
    match step.kind:
        case StepKind.CONSENT:
            return _render(request, "participation/consent.html", context)
        case StepKind.SCREENING:
            context["form"] = form or ScreeningForm(
                options=texts.screening_options(study.screening_options)
            )
            return _render(request, "participation/screening.html", context)
        case StepKind.INSTRUCTIONS:
            arm = participant.arm
            assert arm is not None  # instructions come after allocation
            context["guide"] = instructions_for(
                scenario_count=participant.tasks.count(),
                arm_kind=arm.kind,
                assistant_label=texts.arm_label(arm),
                min_turns=arm.min_turns,
                max_turns=arm.max_turns,
                disposition_question=texts.disposition_question,
                conditions_question=texts.conditions_question,
            )
            return _render(request, "participation/instructions.html", context)
        case StepKind.CHECK:
            context["form"] = form or CheckForm(options=texts.check_options(study.check_options))
            context["attempts_left"] = study.check_attempts - participant.check_failures
            return _render(request, "participation/check.html", context)
        case StepKind.QUESTIONNAIRE:
            return _render_questionnaire(request, participant, step)
        case StepKind.DECLINED | StepKind.COMPLETE | StepKind.ENDED:
            outcome = OUTCOME_FOR_STATUS.get(participant.status, Outcome.WITHDRAWN)
            context["exit"] = study_exit(study, outcome)
            template = {
                StepKind.DECLINED: "participation/declined.html",
                StepKind.COMPLETE: "participation/complete.html",
            }.get(step.kind, "participation/ended.html")
            return _render(request, template, context)
    return _render_task(request, participant, step, form=form)


def _render_task(
    request: HttpRequest, participant: Participant, step: Step, *, form: Form | None
) -> HttpResponse:
    task = step.task
    assert task is not None  # every task step carries its task
    arm = participant.arm
    texts = study_texts(study=participant.study, language=participant.language)
    context: dict = {
        "participant": participant,
        "study": participant.study,
        "texts": texts,
        "step": step,
        "task": task,
        "scenario": scenario_text(scenario=task.scenario, language=participant.language),
        "arm": arm,
        "assistant_label": texts.arm_label(arm) if arm else "",
        "control_instructions": texts.control_instructions(arm) if arm else "",
    }
    if step.kind == StepKind.CHAT:
        context["conversation_is_scripted"] = bool(
            arm and arm.endpoint and arm.endpoint.is_scripted
        )
        context["conversation_is_test_model"] = bool(
            arm and arm.endpoint and arm.endpoint.is_test_model
        )
    elif step.kind == StepKind.SOURCES:
        context["form"] = form or SourcesForm()
    else:
        if not isinstance(form, AnswerForm):
            form = AnswerForm(levels=_levels(participant, texts))
        context["levels"] = form.levels
        context["form"] = form
    return _render(request, "participation/task.html", context)


def _levels(participant: Participant, texts: StudyTexts | None = None) -> list[LevelText]:
    """The study's care levels as the participant reads them (their language; `texts`:
    the study's texts in it, when the caller has them already)."""
    texts = texts or study_texts(study=participant.study, language=participant.language)
    return texts.levels(study_disposition_levels(study=participant.study))


@require_POST
@participant_view
def consent(request: HttpRequest, participant: Participant) -> HttpResponse:
    agree, decline = "agree" in request.POST, "decline" in request.POST
    if agree == decline:
        messages.warning(request, _("Please choose one of the two buttons."))
        return redirect("participation:home", token=participant.token)
    if agree and participant.status == Participant.Status.STARTED:
        # Only a first consent allocates; a resent form is not counted.
        limited = rate_limit(
            action=Action.CONSENT, study_id=participant.study_id, ip=client_ip(request)
        )
        if limited is not None:
            home_url = reverse("participation:home", kwargs={"token": participant.token})
            return _too_many(request, participant.study, limited, retry_url=home_url)
    try:
        if agree:
            participant_consent(participant_id=participant.pk)
        else:
            participant_decline(participant_id=participant.pk)
    except FlowError as exc:
        return _refused(request, participant, exc)
    return redirect("participation:home", token=participant.token)


@require_POST
@participant_view
def screening(request: HttpRequest, participant: Participant) -> HttpResponse:
    study = participant.study
    texts = study_texts(study=study, language=participant.language)
    form = ScreeningForm(request.POST, options=texts.screening_options(study.screening_options))
    if form.is_valid() or not study.has_screening:
        try:
            participant_answer_screening(
                participant_id=participant.pk, value=form.cleaned_data.get("answer", "")
            )
        except FlowError as exc:
            return _refused(request, participant, exc)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            return redirect("participation:home", token=participant.token)
    step = participant_current_step(participant)
    if step.kind != StepKind.SCREENING:
        return redirect("participation:home", token=participant.token)
    return _render_step(request, participant, step, form=form)


@require_POST
@participant_view
def check(request: HttpRequest, participant: Participant) -> HttpResponse:
    study = participant.study
    texts = study_texts(study=study, language=participant.language)
    form = CheckForm(request.POST, options=texts.check_options(study.check_options))
    if form.is_valid():
        try:
            passed = participant_answer_check(
                participant_id=participant.pk, answer=form.cleaned_data["answer"]
            )
        except FlowError as exc:
            return _refused(request, participant, exc)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            if not passed:
                participant.refresh_from_db()
                if participant.status == Participant.Status.CONSENTED:
                    messages.warning(request, _("That was not the answer we were looking for."))
            return redirect("participation:home", token=participant.token)
    step = participant_current_step(participant)
    if step.kind != StepKind.CHECK:
        return redirect("participation:home", token=participant.token)
    return _render_step(request, participant, step, form=form)


@require_http_methods(["GET", "POST"])
@never_cache
@participant_view
def withdraw(request: HttpRequest, participant: Participant) -> HttpResponse:
    """Withdraw consent: a confirmation page, then everything they gave is deleted."""
    study = participant.study
    if request.method == "GET":
        context = {"participant": participant, "study": study}
        return _render(request, "participation/withdraw.html", context)
    participant_withdraw(participant_id=participant.pk)
    return _render(request, "participation/withdrawn.html", {"study": study})


@require_POST
@participant_view
def instructions(request: HttpRequest, participant: Participant) -> HttpResponse:
    try:
        participant_read_instructions(participant_id=participant.pk)
    except FlowError as exc:
        return _refused(request, participant, exc)
    return redirect("participation:home", token=participant.token)


def _is_open_step(step: Step, kind: StepKind, task: Task) -> bool:
    return step.kind == kind and step.task is not None and step.task.pk == task.pk


def _submit_task_form(
    request: HttpRequest,
    participant: Participant,
    task: Task,
    form: Form,
    *,
    step_kind: StepKind,
    submit: Callable[[dict], object],
) -> HttpResponse:
    """Validate a task step's form and hand it to its service; on a refusal or an invalid
    form, show the participant where they really are (the stored state wins)."""
    if form.is_valid():
        try:
            submit(form.cleaned_data)
        except FlowError as exc:
            return _refused(request, participant, exc)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            return redirect("participation:home", token=participant.token)
    step = participant_current_step(participant)
    if not _is_open_step(step, step_kind, task):
        # A stale or out-of-order form: show the step they are really on.
        return redirect("participation:home", token=participant.token)
    return _render_step(request, participant, step, form=form)


@require_POST
@participant_view
def sources(request: HttpRequest, participant: Participant, position: int) -> HttpResponse:
    task = _task_or_404(participant, position)
    return _submit_task_form(
        request,
        participant,
        task,
        SourcesForm(request.POST),
        step_kind=StepKind.SOURCES,
        submit=lambda data: task_save_sources(
            participant_id=participant.pk,
            position=task.position,
            sources_text=data["sources_text"],
        ),
    )


@require_POST
@participant_view
def answer(request: HttpRequest, participant: Participant, position: int) -> HttpResponse:
    task = _task_or_404(participant, position)
    return _submit_task_form(
        request,
        participant,
        task,
        AnswerForm(request.POST, levels=_levels(participant)),
        step_kind=StepKind.ANSWER,
        submit=lambda data: answer_submit(
            participant_id=participant.pk,
            position=task.position,
            disposition_id=data["disposition"],
            conditions_text=data["conditions_text"],
            confidence=data["confidence"],
            # The form offers no default and requires it: whatever came, they set.
            confidence_set=True,
        ),
    )


def _render_questionnaire(
    request: HttpRequest,
    participant: Participant,
    step: Step,
    *,
    raw: dict[str, list[str]] | None = None,
    errors: dict | None = None,
) -> HttpResponse:
    """A questionnaire page; sent back with `raw` and `errors` when answers were refused.
    Every item is rendered visible: questionnaire.js hides those whose condition is unmet,
    and without it the participant sees them all (the server ignores their answers)."""
    questionnaire = get_object_or_404(Questionnaire, pk=step.questionnaire_id)
    items = questionnaire_items(questionnaire=questionnaire)
    # In the participant's language where translated (questionnaires.translations).
    qtexts = questionnaire_texts(
        questionnaire=questionnaire, items=items, language=participant.language
    )
    context = {
        "participant": participant,
        "study": participant.study,
        "step": step,
        "questionnaire": questionnaire,
        "qtexts": qtexts,
        "fields": item_fields(items, raw=raw, errors=errors, texts=qtexts),
        "has_errors": bool(errors),
    }
    return _render(request, "participation/questionnaire.html", context)


@require_POST
@participant_view
def questionnaire(request: HttpRequest, participant: Participant, pk: int) -> HttpResponse:
    questionnaire = get_object_or_404(Questionnaire, pk=pk, study_id=participant.study_id)
    raw = raw_from_post(questionnaire_items(questionnaire=questionnaire), request.POST)
    try:
        questionnaire_submit(participant_id=participant.pk, questionnaire_id=pk, raw=raw)
    except FlowError as exc:
        return _refused(request, participant, exc)
    except ValidationError as exc:
        step = participant_current_step(participant)
        if step.kind != StepKind.QUESTIONNAIRE or step.questionnaire_id != pk:
            return redirect("participation:home", token=participant.token)
        return _render_questionnaire(request, participant, step, raw=raw, errors=exc.message_dict)
    return redirect("participation:home", token=participant.token)
