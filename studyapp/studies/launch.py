"""The launch checklist: what must hold before a study goes live, and going live.

A study set live with an LLM arm whose server nothing listened on stranded its first
participant in a broken chat, and HELPMed lost 339 participants to an API timeout: so
going live asks every LLM arm's endpoint for a real streamed reply *now* (the admin's
"Test connection", chat.llm.probe), and checks the design is whole (scenarios with their
gold standard, quotas, the analysis plan, Prolific's codes, the translations). Each
problem says what is wrong in plain words and where to fix it; any problem refuses the
launch. There is no override: a study that cannot pass the checklist is not ready.

`launch_problems` reads and probes; `study_launch` is the one writer of the live
transition outside the admin (whose save runs the same checklist).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from studyapp.audit import services as audit
from studyapp.chat.llm import EndpointConfig
from studyapp.chat.llm.probe import ProbeResult, probe_endpoint
from studyapp.participation import pilot as pilot_participants
from studyapp.participation.enrolment import (
    AllocationConfigError,
    pilot_blocks_close,
    study_design,
    study_frozen_design,
)
from studyapp.studies import analysis_plan, builder_recruitment
from studyapp.studies.history import config_save
from studyapp.studies.models import Arm, ModelEndpoint, Study
from studyapp.studies.services import plan_current_content
from studyapp.studies.translations import scenario_translation_states, translation_status

logger = logging.getLogger(__name__)

# The longest one endpoint's probe may take; the endpoints are probed concurrently, so the
# whole checklist waits about this long at most, however many endpoints the study uses.
PROBE_TIMEOUT_S = 10.0

Probe = Callable[[EndpointConfig], Awaitable[ProbeResult]]


@dataclass(frozen=True)
class Problem:
    """One reason a study may not go live."""

    code: str
    message: str
    where: str  # where to fix it, in words
    url: str = ""  # the investigator page to fix it on, when there is one


class LaunchRefusedError(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


def _page_url(name: str, *args) -> str:
    """An investigator page of the study builder (or of the endpoints) to fix it on."""
    return reverse(name, args=args)


def _field_url(study: Study, field: str) -> str:
    """The builder page that edits a Study field."""
    if field in builder_recruitment.ALLOCATION_FIELDS:
        return _page_url("studies:allocation", study.slug)
    if field in builder_recruitment.SCREENING_FIELDS:
        return _page_url("studies:screening", study.slug)
    if field in builder_recruitment.PROLIFIC_FIELDS:
        return _page_url("studies:prolific_settings", study.slug)
    return _page_url("studies:settings", study.slug)


_TRANSLATE = "Translate what is missing on the study's Translations pages."


def _translation_url(study: Study) -> str:
    """The builder's translation page of the first language that lacks something: its
    page for the study's texts, else that of its first scenario lacking a translation."""
    scenarios = scenario_translation_states(study=study)
    for status in translation_status(study=study):
        if not status.gaps:
            continue
        lacking = [s for s in scenarios if s.language == status.language and s.lacks]
        # Each scenario lacking something is one of the language's gaps: any other gap is
        # the study's texts'.
        if len(status.gaps) > len(lacking):
            return _page_url("studies:translation", study.slug, status.language)
        return _page_url(
            "studies:scenario_translation", study.slug, status.language, lacking[0].scenario.pk
        )
    return _page_url("studies:translations", study.slug)


async def _probe_all(configs: Sequence[EndpointConfig], probe: Probe) -> list[ProbeResult]:
    async def bounded(config: EndpointConfig) -> ProbeResult:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                return await probe(config)
        except TimeoutError:
            return ProbeResult(
                ok=False, detail=f"no complete reply within {PROBE_TIMEOUT_S:.0f} s"
            )

    return list(await asyncio.gather(*(bounded(c) for c in configs)))


def endpoint_problems(*, arms: Sequence[Arm], probe: Probe = probe_endpoint) -> list[Problem]:
    """Each endpoint the LLM arms use must answer one real streamed request now."""
    by_endpoint: dict[int, tuple[ModelEndpoint, list[str]]] = {}
    for arm in arms:
        if arm.is_llm and arm.endpoint is not None:
            by_endpoint.setdefault(arm.endpoint_id, (arm.endpoint, []))[1].append(arm.key)
    endpoints = list(by_endpoint.values())
    configs = [
        EndpointConfig.from_endpoint(e, timeout_s=min(e.timeout_s, PROBE_TIMEOUT_S))
        for e, _keys in endpoints
    ]
    results = async_to_sync(_probe_all)(configs, probe)
    problems = []
    for (endpoint, keys), result in zip(endpoints, results, strict=True):
        logger.info("launch check: endpoint %s ok=%s", endpoint.pk, result.ok)
        if result.ok:
            continue
        problems.append(
            Problem(
                code="endpoint_unreachable",
                message=(
                    f"Model endpoint “{endpoint.name}” ({endpoint.base_url}, model "
                    f"{endpoint.model}), used by arm {', '.join(sorted(keys))}, did not answer "
                    f"a streamed request: {result.detail}."
                ),
                where=(
                    f"Start the model server, or correct the endpoint “{endpoint.name}” and "
                    "run its Test connection (Model endpoints)."
                ),
                url=_page_url("endpoints:edit", endpoint.pk),
            )
        )
    return problems


def design_problems(*, study: Study, arms: Sequence[Arm]) -> list[Problem]:
    """Everything but the endpoints: scenarios, quotas, the plan, Prolific, translations."""
    problems: list[Problem] = []
    scenarios_url = _page_url("studies:scenarios", study.slug)
    if not arms:
        problems.append(
            Problem(
                "no_arms",
                "The study has no arms.",
                "Add arms on the study's Arms page.",
                _page_url("studies:arms", study.slug),
            )
        )
    scenarios = list(study.scenarios.active().select_related("gold_disposition"))
    if len(scenarios) < study.scenarios_per_participant:
        problems.append(
            Problem(
                "too_few_scenarios",
                f"Each participant sees {study.scenarios_per_participant} scenarios, but the "
                f"study has {len(scenarios)} active.",
                "Add or activate scenarios, or lower “scenarios per participant”.",
                scenarios_url,
            )
        )
    for scenario in scenarios:
        missing = []
        if scenario.gold_disposition.scale_id != study.disposition_scale_id:
            missing.append("a gold disposition from the study's scale")
        if not scenario.gold_conditions:
            missing.append("gold conditions")
        if missing:
            problems.append(
                Problem(
                    "scenario_incomplete",
                    f"Scenario “{scenario.key}” (version {scenario.version}) lacks "
                    f"{' and '.join(missing)}.",
                    f"Complete scenario “{scenario.key}” on the study's Scenarios page.",
                    _page_url("studies:scenario_edit", study.slug, scenario.pk),
                )
            )
    if study.quota_per_arm is None and study.quota_per_cell is None:
        problems.append(
            Problem(
                "no_quota",
                "No quota is set: enrolment would never stop.",
                "Set the responses per arm (or per arm and scenario) under “Quotas and "
                "attrition” (Allocation and quotas), or with the study's Sample size page.",
                _field_url(study, "quota_per_arm"),
            )
        )
    if arms and study_frozen_design(study=study) is None:
        # The first allocation would refuse this design (e.g. an arm's weight changed
        # after the block sizes were set): say so now, where it can be fixed.
        try:
            study_design(study=study, arms=arms)
        except AllocationConfigError as exc:
            problems.append(
                Problem(
                    "allocation_design",
                    f"The allocation design cannot allocate anyone: {exc}.",
                    "Correct the block sizes (or the arms' weights) on the study's "
                    "Allocation and quotas page.",
                    _page_url("studies:allocation", study.slug),
                )
            )
    content = plan_current_content(study=study)  # a check writes nothing
    try:
        analysis_plan.validate(content, arm_keys=[arm.key for arm in arms])
    except analysis_plan.PlanError as exc:
        problems.append(
            Problem(
                "analysis_plan",
                "The analysis plan is not valid: " + "; ".join(exc.errors) + ".",
                "Correct it on the study's Analysis plan page.",
                reverse("analysis:plan", args=[study.slug]),
            )
        )
    problems += _prolific_problems(
        study=study, arms=arms, url=_page_url("studies:prolific_settings", study.slug)
    )
    # Study.clean checks a live study's translations (and the rest of its settings):
    # ask it as if the study were live already.
    candidate = copy.copy(study)
    candidate.status = Study.Status.LIVE
    try:
        candidate.clean()
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            if field == "languages" and len(study.languages) > 1:
                code, where, url = "translations", _TRANSLATE, _translation_url(study)
            else:
                code, where = "settings", "Correct it in the study's settings."
                url = _field_url(study, field)
            problems.append(
                Problem(
                    code,
                    f"{field.replace('_', ' ').capitalize()}: {' '.join(messages)}",
                    where,
                    url,
                )
            )
    problems += _questionnaire_translation_problems(study)
    return problems


def _questionnaire_translation_problems(study: Study) -> list[Problem]:
    """Each questionnaire needs a complete translation into each of the study's other
    languages, as its scenarios do (questionnaires.translations; that app sits above this
    one, hence the import here). Out of date is shown on the builder, not refused, as
    for scenarios."""
    if len(study.languages or []) < 2:
        return []
    from studyapp.questionnaires.selectors import study_questionnaires_with_items
    from studyapp.questionnaires.translations import State, translation_states

    questionnaires = study_questionnaires_with_items(study_id=study.pk)
    problems = []
    for s in translation_states(study=study, questionnaires=questionnaires):
        if s.state not in (State.MISSING, State.INCOMPLETE):
            continue
        lacks = "has no translation" if s.translation is None else "lacks " + "; ".join(s.gaps)
        problems.append(
            Problem(
                "translations",
                f"Questionnaire “{s.questionnaire.key}” in {s.language}: {lacks}.",
                f"Translate it on the questionnaire's page ({s.language_name}).",
                _page_url(
                    "questionnaires:translation", study.slug, s.questionnaire.pk, s.language
                ),
            )
        )
    return problems


def _prolific_problems(*, study: Study, arms: Sequence[Arm], url: str) -> list[Problem]:
    """On Prolific, every way out of the study must hand the participant a code (or they
    cannot be paid, and return the study, refilling nobody's slot honestly)."""
    if not study.prolific_study_id:
        return []
    needed = {
        "completion_code": "completed",
        "completion_url": "the completion URL",
        "code_screened_out": "screened out or declined consent",
        "code_study_full": "study full",
    }
    if study.time_limit_minutes:
        needed["code_timed_out"] = "timed out"
    if study.has_check:
        needed["code_failed_check"] = "failed the check"
    if study.technical_exit_after and any(arm.is_llm for arm in arms):
        needed["code_technical_problem"] = "technical problem"
    missing = [label for field, label in needed.items() if not getattr(study, field)]
    if not missing:
        return []
    return [
        Problem(
            "prolific_codes",
            "The study recruits on Prolific (its STUDY_ID is set) but has no code for: "
            + ", ".join(missing)
            + ".",
            "Set them on the study's Prolific page (settings).",
            url,
        )
    ]


def launch_todo(study: Study) -> list[Problem]:
    """The checklist's problems that need no model endpoint asked (design_problems): what
    the study page lists as still to do, so an investigator meets them while building,
    not first at the launch."""
    arms = list(study.arms.select_related("endpoint").order_by("key"))
    return design_problems(study=study, arms=arms)


def launch_problems(study: Study, *, probe: Probe = probe_endpoint) -> list[Problem]:
    """Every reason `study` may not go live now (empty: it may). Probes the LLM arms'
    endpoints concurrently (PROBE_TIMEOUT_S at most). `probe` is the network edge."""
    arms = list(study.arms.select_related("endpoint").order_by("key"))
    return design_problems(study=study, arms=arms) + endpoint_problems(arms=arms, probe=probe)


class PilotData(models.TextChoices):
    """What becomes of the pilot's participants at launch: the investigator's explicit
    choice (participation.pilot)."""

    KEEP = "keep", "Keep the pilot data (labelled pilot, still left out of the main analysis)"
    CLEAR = "clear", "Clear the pilot data (delete the pilot's participants and what they gave)"


def _pilot_choice_problem() -> Problem:
    return Problem(
        "pilot_choice",
        "The study is in its pilot: choose whether to keep or to clear the pilot's data.",
        "Choose on the launch page.",
    )


def study_pilot_start(*, study: Study, user=None, probe: Probe = probe_endpoint) -> Study:
    """Draft -> pilot, after the same checklist as going live (a pilot with a dead
    endpoint strands its participants as a live study would): the link then enrols real
    participants, labelled pilot. Raises LaunchRefusedError with every problem."""
    if study.status != Study.Status.DRAFT:
        raise LaunchRefusedError(
            [Problem("not_draft", "Only a draft study can start a pilot.", "Nothing to do.")]
        )
    problems = launch_problems(study, probe=probe)
    if problems:
        raise LaunchRefusedError(problems)
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        if locked.status != Study.Status.DRAFT:
            raise LaunchRefusedError(
                [Problem("not_draft", "Only a draft study can start a pilot.", "Nothing to do.")]
            )
        locked.status = Study.Status.PILOT
        config_save(locked, fields=["status"], by=user, action="pilot_start")
    study.status = Study.Status.PILOT
    logger.info("study %s: pilot started by user %s", study.pk, getattr(user, "pk", None))
    return study


def _pilot_end(*, study: Study, pilot_data: str, user) -> None:
    """The pilot's end, in the launch's transaction under the study's row lock: its last
    blocks closed (the main phase starts at a block's first slot), its participants kept
    or cleared, and the choice with its counts on the study's audit chain."""
    now = timezone.now()
    closed = pilot_blocks_close(study=study, now=now)
    if pilot_data == PilotData.CLEAR:
        try:
            counts = pilot_participants.pilot_data_clear(study=study)
        except pilot_participants.PilotInProgressError as exc:
            raise LaunchRefusedError(
                [
                    Problem(
                        "pilot_in_progress",
                        f"{exc.n} pilot participant(s) are still doing their tasks: clearing "
                        "would delete their session under them.",
                        "Wait until they finish (or time out), or keep the pilot data.",
                    )
                ]
            ) from exc
    else:
        counts = pilot_participants.pilot_counts(study=study)
    audit.record(
        study=study,
        actor=user,
        action=f"pilot_{pilot_data}",
        object_type="studies.study",
        object_id=study.pk,
        object_repr=study.slug,
        detail={"pilot_data": pilot_data, "slots_closed": closed, **counts.as_dict()},
    )


def study_launch(
    *,
    study: Study,
    launched_by=None,
    probe: Probe = probe_endpoint,
    pilot_data: str = "",
) -> Study:
    """Set a study live if the checklist passes; raises LaunchRefusedError with every
    problem otherwise. The probes run before the row lock (they may take seconds); the
    status is then written under it, so two launches cannot both write. A study in its
    pilot (enrolling or paused) needs `pilot_data` (PilotData: keep or clear); see
    _pilot_end."""
    if study.status == Study.Status.LIVE:
        raise LaunchRefusedError(
            [Problem("already_live", "The study is already live.", "Nothing to do.")]
        )
    if study.is_pilot and pilot_data not in PilotData.values:
        raise LaunchRefusedError([_pilot_choice_problem()])
    problems = launch_problems(study, probe=probe)
    if problems:
        raise LaunchRefusedError(problems)
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        if locked.status == Study.Status.LIVE:
            raise LaunchRefusedError(
                [Problem("already_live", "The study is already live.", "Nothing to do.")]
            )
        if locked.is_pilot:  # enrolling or paused: launching ends the pilot either way
            if pilot_data not in PilotData.values:
                raise LaunchRefusedError([_pilot_choice_problem()])
            _pilot_end(study=locked, pilot_data=pilot_data, user=launched_by)
        # Saved (not .update()) so the study's history keeps the launch, with who.
        locked.status = Study.Status.LIVE
        config_save(locked, fields=["status"], by=launched_by, action="launch")
    study.status = Study.Status.LIVE
    logger.info(
        "study %s set live by user %s after the launch checklist",
        study.pk,
        getattr(launched_by, "pk", None),
    )
    return study
