"""The REST API (django-ninja): its routes, each a thin wrapper over the selectors and
services the pages use, with the pages' role checks (study_get_for_user_or_404 with the
same permission as the matching page: 404 for a study the user may not see). Blinded
analysts get the blinded form wherever the pages give it. The schema is served at
/api/openapi.json, the interactive docs at /api/docs."""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError
from ninja.pagination import PageNumberPagination, paginate
from ninja.responses import Status

from studyapp.accounts.permissions import user_sees_blinded
from studyapp.analysis import exports
from studyapp.analysis import selectors as analysis_selectors
from studyapp.api.auth import RateLimited, ScopeMissing, TokenAuth, require_scope, token_study
from studyapp.api.models import Scope
from studyapp.api.routes_design import form_errors
from studyapp.api.routes_design import router as design_router
from studyapp.api.schemas import (
    ERRORS,
    ArmOut,
    CancelOut,
    ErrorOut,
    EvaluationRunOut,
    EvaluationStartIn,
    FormErrorOut,
    ParticipantOut,
    ScenarioOut,
    StudyCreateIn,
    StudyDetailOut,
    StudyOut,
    TablePageOut,
)
from studyapp.audit import services as audit
from studyapp.core.streaming import streaming_attachment
from studyapp.evaluations.forms import StartRunForm
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.services import EvaluationError, evaluation_cancel, evaluation_start
from studyapp.participation.selectors import participant_state, study_participants_with_state
from studyapp.studies import roles
from studyapp.studies.models import Scenario, Study
from studyapp.studies.views_design import DesignImportForm

PAGE_SIZE = 100
MAX_PAGE_SIZE = 500

api = NinjaAPI(
    title="studyapp API",
    version="1",
    description=(
        "Studies, participants' states, reports, exports and evaluation runs. "
        "Authenticate with `Authorization: Bearer <token>` (a personal token made at "
        "/api/tokens/); each route needs a scope of the token and the study role its page "
        "needs."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
)


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = api.create_response(request, {"detail": str(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after_s)
    return response


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    # A study that requires two-factor authentication of a user who has not set it up
    # (accounts.mfa.MFARequired): a token does not stand in for the second factor.
    return api.create_response(request, {"detail": str(exc) or "Forbidden"}, status=403)


@api.exception_handler(ScopeMissing)
def _scope_missing(request: HttpRequest, exc: ScopeMissing) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=403)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # A parameter or body field of the wrong type, in the shape of a form's refusal
    # (FormErrorOut): the field's name -> its messages.
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ())]
        # ("body", "body", "field", ...) or ("query", "field"): the field as the caller named it
        field = ".".join(loc[2:] if loc[:1] == ["body"] else loc[1:]) or "__all__"
        errors.setdefault(field, []).append(error.get("msg", "invalid"))
    body = {"detail": "The request is not valid.", "errors": errors}
    return api.create_response(request, body, status=422)


_study = token_study


@api.get("/studies", response={200: list[StudyOut], **ERRORS}, url_name="studies")
def studies(request: HttpRequest):
    """The studies the token's user may see (any role), by slug."""
    require_scope(request, Scope.READ)
    rows = Study.objects.visible_to(request.user).with_member_role(request.user).order_by("slug")
    return [
        StudyOut(slug=s.slug, title=s.title, status=s.status, role=s._member_role) for s in rows
    ]


@api.get("/studies/{slug}", response={200: StudyDetailOut, **ERRORS}, url_name="study")
def study(request: HttpRequest, slug: str):
    """The study's design in summary: arms (by letter only for a blinded analyst; never an
    endpoint's address or key) and scenarios (no gold answers)."""
    return _study_detail(request, _study(request, slug, roles.VIEW_STUDY, Scope.READ))


def _study_detail(request: HttpRequest, study: Study) -> StudyDetailOut:
    blinded = user_sees_blinded(request.user, study)
    arms = [
        ArmOut(letter=v.letter)
        if blinded
        else ArmOut(letter=v.letter, key=v.key, kind=v.kind, label=v.label, model=v.model)
        for v in analysis_selectors.study_arm_views(study=study, blinded=blinded)
    ]
    scenarios = Scenario.objects.filter(study=study).order_by("key", "version")
    return StudyDetailOut(
        slug=study.slug,
        title=study.title,
        status=study.status,
        role=study._member_role,
        blinded=blinded,
        scenarios_per_participant=study.scenarios_per_participant,
        languages=list(study.languages or []),
        arms=arms,
        scenarios=[
            ScenarioOut(key=s.key, version=s.version, title=s.title, is_active=s.is_active)
            for s in scenarios
        ],
    )


@api.post(
    "/studies",
    response={201: StudyDetailOut, 422: FormErrorOut, **ERRORS},
    url_name="study_create",
)
def study_create(request: HttpRequest, body: StudyCreateIn):
    """A new draft study from a design file (`design`: the file's JSON object), imported
    as the design upload page does and checked by its form: the token's user becomes its
    owner; arms' endpoints are matched among those the user may use, and only a
    superuser's file may create new ones."""
    require_scope(request, Scope.WRITE)
    data = {"slug": body.slug or "", "title": body.title or ""}
    files = {}
    if body.design is not None:
        # The page's upload, so the same form judges it (its size limit, its JSON).
        content = json.dumps(body.design).encode()
        files["design"] = SimpleUploadedFile("design.json", content, "application/json")
    form = DesignImportForm(data, files)
    if form.is_valid():
        study = form.import_for(request.user)
        if study is not None:
            study = Study.objects.with_member_role(request.user).get(pk=study.pk)
            return Status(201, _study_detail(request, study))
    return form_errors(form, "The study was not created.")


@api.get(
    "/studies/{slug}/participants",
    response={200: list[ParticipantOut], **ERRORS},
    url_name="participants",
)
@paginate(PageNumberPagination, page_size=PAGE_SIZE)
def participants(request: HttpRequest, slug: str, include_pilot: bool = False):
    """Participants' states (participation.states), oldest first, PAGE_SIZE a page: ids,
    arm and times only, never anything they wrote. The arm's key only unblinded. The
    pilot's participants only with `include_pilot=true`, as on the pages."""
    study = _study(request, slug, roles.VIEW_RESULTS, Scope.READ)
    blinded = user_sees_blinded(request.user, study)
    names = exports.arm_names_for(study=study)
    queryset = study_participants_with_state(study=study, include_pilot=include_pilot)
    return _ParticipantPage(queryset, names, blinded)


class _ParticipantPage:
    """The participants' queryset, converted to ParticipantOut only for the page read."""

    def __init__(self, queryset, names: exports.ArmNames, blinded: bool) -> None:
        self.queryset, self.names, self.blinded = queryset, names, blinded

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[ParticipantOut]:
        return [
            ParticipantOut(
                id=p.pk,
                state=participant_state(p),
                arm=None if self.blinded else self.names.key.get(p.arm_id),
                arm_letter=self.names.letter.get(p.arm_id),
                language=p.language,
                is_simulated=p.is_simulated,
                is_pilot=p.is_pilot,
                created_at=p.created_at,
                completed_at=p.completed_at,
            )
            for p in self.queryset[page]
        ]


@api.get("/studies/{slug}/report", response={200: dict, **ERRORS}, url_name="report")
def report(request: HttpRequest, slug: str):
    """What `study_report --format json` prints. It names arms and models, so it is for the
    roles that see results unblinded (a blinded analyst meets 404, as on the figures page)."""
    study = _study(request, slug, roles.VIEW_UNBLINDED, Scope.READ)
    return analysis_selectors.study_report_data(study=study)


@api.get(
    "/studies/{slug}/exports/{table}",
    response={200: None, **ERRORS},
    url_name="export",
    openapi_extra={"responses": {200: {"description": "The table as CSV, streamed."}}},
)
def export(
    request: HttpRequest, slug: str, table: str, blinded: bool = False, include_pilot: bool = False
):
    """One export table as CSV, streamed, recorded in the audit trail as the page's
    downloads are. Blinded when asked (`?blinded=true`) and always for a blinded analyst;
    pseudonyms only (raw identifiers stay with the page, which records why). The pilot's
    rows only with `include_pilot=true` (the page's "Include the pilot")."""
    study = _study(request, slug, roles.VIEW_RESULTS, Scope.EXPORT)
    if table not in exports.TABLES:
        raise Http404("No such export")
    blinded = blinded or user_sees_blinded(request.user, study)
    audit.record(
        study=study,
        actor=request.user,
        action="export",
        object_type="analysis.export",
        object_id=f"{table}.csv",
        detail={
            "blinded": blinded,
            "raw_identifiers": False,
            "include_pilot": include_pilot,
            "via": "api",
        },
    )
    parts = exports.WRITERS["csv"](
        exports.TABLES[table],
        study=study,
        arms=exports.arm_names_for(study=study),
        blinded=blinded,
        raw_identifiers=False,
        include_pilot=include_pilot,
    )
    suffix = "-blinded" if blinded else ""
    return streaming_attachment(
        request,
        parts,
        content_type=exports.FORMATS["csv"],
        filename=f"{study.slug}-{table}{suffix}.csv",
    )


def _table_page(
    request: HttpRequest, slug: str, table: str, page: int, page_size: int, include_pilot: bool
):
    study = _study(request, slug, roles.VIEW_RESULTS, Scope.READ)
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise HttpError(422, f"page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}")
    blinded = user_sees_blinded(request.user, study)
    spec = exports.TABLES[table]
    columns = [c.name for c in spec.visible_columns(blinded=blinded)]
    start = (page - 1) * page_size
    # What participants wrote is read here as in a transcript: recorded, never logged.
    audit.record(
        study=study,
        actor=request.user,
        action="view",
        object_type="analysis.table_page",
        object_id=table,
        detail={
            "blinded": blinded,
            "page": page,
            "page_size": page_size,
            "include_pilot": include_pilot,
            "via": "api",
        },
    )
    values = exports.rows(
        spec,
        study=study,
        arms=exports.arm_names_for(study=study),
        blinded=blinded,
        page=slice(start, start + page_size),
        include_pilot=include_pilot,
    )
    return TablePageOut(
        table=table,
        columns=columns,
        count=exports.table_queryset(spec, study=study, include_pilot=include_pilot).count(),
        page=page,
        page_size=page_size,
        items=[dict(zip(columns, row, strict=True)) for row in values],
    )


@api.get(
    "/studies/{slug}/answers",
    response={200: TablePageOut, 422: ErrorOut, **ERRORS},
    url_name="answers",
)
def answers(
    request: HttpRequest,
    slug: str,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    include_pilot: bool = False,
):
    """Answers with their scores, a page at a time: the `answers` export's columns (blinded
    for a blinded analyst), in its order; the pilot's with `include_pilot=true`."""
    return _table_page(request, slug, "answers", page, page_size, include_pilot)


@api.get(
    "/studies/{slug}/messages",
    response={200: TablePageOut, 422: ErrorOut, **ERRORS},
    url_name="messages",
)
def messages(
    request: HttpRequest,
    slug: str,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    include_pilot: bool = False,
):
    """Chat messages (participants' and the models'), a page at a time: the `messages`
    export's columns, in its order; the pilot's with `include_pilot=true`. Each page read
    is recorded in the audit trail."""
    return _table_page(request, slug, "messages", page, page_size, include_pilot)


def _run_out(run: EvaluationRun) -> EvaluationRunOut:
    return EvaluationRunOut.model_validate(run, from_attributes=True)


@api.get(
    "/studies/{slug}/evaluations",
    response={200: list[EvaluationRunOut], **ERRORS},
    url_name="evaluations",
)
def evaluations(request: HttpRequest, slug: str):
    """The study's evaluation runs, newest first, with their progress."""
    study = _study(request, slug, roles.VIEW_DESIGN, Scope.READ)
    runs = EvaluationRun.objects.filter(study=study).order_by("-created_at", "-pk")
    return [_run_out(run) for run in runs]


@api.post(
    "/studies/{slug}/evaluations",
    response={201: EvaluationRunOut, 422: FormErrorOut, **ERRORS},
    url_name="evaluation_start",
)
def evaluation_start_route(request: HttpRequest, slug: str, body: EvaluationStartIn):
    """Start a run, as the evaluations page's form does and validated by that form (which
    arms, endpoints, prompts and item files this user may choose); its chunks are queued."""
    study = _study(request, slug, roles.CHANGE_STUDY, Scope.EVALUATIONS)
    data = {k: v for k, v in body.dict().items() if v not in ("", None, False, [])}
    form = StartRunForm(data, {}, study=study, user=request.user)
    if form.is_valid():
        try:
            run = evaluation_start(study=study, request=form.start_request(), user=request.user)
        except EvaluationError as exc:
            form.add_error(None, str(exc))
        else:
            return Status(201, _run_out(run))
    errors = form.errors.get_json_data()
    messages = {field: [e["message"] for e in found] for field, found in errors.items()}
    return Status(422, {"detail": "The run was not started.", "errors": messages})


@api.get(
    "/studies/{slug}/evaluations/{run_id}",
    response={200: EvaluationRunOut, **ERRORS},
    url_name="evaluation",
)
def evaluation(request: HttpRequest, slug: str, run_id: int):
    """One run, to follow its progress (poll it)."""
    study = _study(request, slug, roles.VIEW_DESIGN, Scope.READ)
    return _run_out(get_object_or_404(EvaluationRun, pk=run_id, study=study))


@api.post(
    "/studies/{slug}/evaluations/{run_id}/cancel",
    response={200: CancelOut, **ERRORS},
    url_name="evaluation_cancel",
)
def evaluation_cancel_route(request: HttpRequest, slug: str, run_id: int):
    """Stop a queued or running run (the items done stay), as the page's Cancel does."""
    study = _study(request, slug, roles.CHANGE_STUDY, Scope.EVALUATIONS)
    run = get_object_or_404(EvaluationRun, pk=run_id, study=study)
    cancelled = evaluation_cancel(run_id=run.pk)
    run.refresh_from_db()
    return CancelOut(cancelled=cancelled, run=_run_out(run))


# Settings, scenarios and arms (api.routes_design); after the routes above, so the study
# list keeps its place at the top of the docs.
api.add_router("", design_router)
