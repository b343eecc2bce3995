"""What an investigator configures: scales, studies, scenarios, model endpoints, arms."""

from __future__ import annotations

import logging
import os
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from studyapp.core.models import TimeStampedModel
from studyapp.core.validators import validate_http_base_url
from studyapp.studies import roles
from studyapp.studies.content import key_facts_errors, rubric_errors
from studyapp.studies.translation_sources import digest, scenario_source, study_source

logger = logging.getLogger(__name__)


class DispositionScale(TimeStampedModel):
    """An ordered set of care levels, e.g. the 5-level NHS-style scale of Bean et al."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Who made it in the study builder (studies.scales), the only one who may change it
    # there, while nothing uses it. None: built in or made in the admin (copied, never
    # changed, in the builder).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="disposition_scales",
    )

    def __str__(self) -> str:
        return self.name


class DispositionLevel(models.Model):
    """One care level. `value` is the acuity rank: higher means more acute."""

    scale = models.ForeignKey(DispositionScale, on_delete=models.CASCADE, related_name="levels")
    value = models.PositiveSmallIntegerField()
    code = models.SlugField(max_length=50)
    label = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["scale", "-value"]
        constraints = [
            models.UniqueConstraint(fields=["scale", "value"], name="level_unique_value"),
            models.UniqueConstraint(fields=["scale", "code"], name="level_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.value})"


def _new_seed() -> int:
    return secrets.randbits(62)


class StudyQuerySet(models.QuerySet["Study"]):
    def visible_to(self, user, perm: str = roles.VIEW_STUDY) -> StudyQuerySet:
        """Studies in which `user` holds `perm` through a membership (studies.roles);
        every study for superusers. Raters' studies are the ratings app's to list."""
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(
            pk__in=StudyMembership.objects.filter(
                user=user, role__in=roles.roles_with(perm)
            ).values("study_id")
        )

    def with_member_role(self, user) -> StudyQuerySet:
        """Each study annotated with `user`'s membership role (None: not a member), which
        studies.roles reads instead of querying again."""
        role = StudyMembership.objects.filter(
            study=models.OuterRef("pk"), user_id=getattr(user, "pk", None)
        ).values("role")[:1]
        return self.annotate(_member_role=models.Subquery(role))

    def open(self) -> StudyQuerySet:
        """Studies whose link enrols new participants: live, or in their pilot."""
        return self.filter(status__in=Study.ENROLLING)


def default_languages() -> list[str]:
    return ["en"]


class Study(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        # Real participants through the real consent and allocation, labelled pilot
        # (Participant.is_pilot) and left out of the main analysis by default.
        PILOT = "pilot", "Pilot (enrolling)"
        LIVE = "live", "Live (enrolling)"
        PAUSED = "paused", "Paused"
        # A paused pilot: held at the door like a paused live study, still in its pilot
        # phase (those inside stay pilot participants; resuming goes back to the pilot).
        PILOT_PAUSED = "pilot_paused", "Pilot (paused)"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    # Shown to participants; must not reveal the arms or the models.
    public_title = models.CharField(max_length=200, default="Health scenarios study")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    disposition_scale = models.ForeignKey(DispositionScale, on_delete=models.PROTECT)
    scenarios_per_participant = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1)]
    )
    consent_text = models.TextField()
    instructions_text = models.TextField()
    disposition_question = models.CharField(
        max_length=300, default="What healthcare service do you need?"
    )
    conditions_question = models.CharField(
        max_length=300,
        default=(
            "Why did you make the choice you did? "
            "Name all specific medical conditions you consider relevant."
        ),
    )
    completion_code = models.CharField(max_length=50, blank=True)
    # Where to send a participant who finished, e.g. Prolific's completion URL.
    completion_url = models.URLField(blank=True)
    allocation_seed = models.BigIntegerField(
        default=_new_seed,
        help_text="Key to the allocation sequence: whoever knows it can predict every arm.",
    )

    # --- Allocation and recruitment (participation reads these; see docs/architecture.md).
    class AllocationMethod(models.TextChoices):
        SIMPLE = "simple", "Simple (weighted) randomisation"
        BLOCKS = "blocks", "Permuted blocks"
        STRATIFIED_BLOCKS = "stratified_blocks", "Stratified permuted blocks"

    class StratumSource(models.TextChoices):
        ENTRY_PARAMETER = "entry_parameter", "A parameter of the entry link"
        SCREENING = "screening", "The answer to the screening question"
        LANGUAGE = "language", "The participant's language"

    allocation_method = models.CharField(
        max_length=20, choices=AllocationMethod.choices, default=AllocationMethod.BLOCKS
    )
    allocation_block_sizes = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "Participants per block, e.g. [4, 8]; each a multiple of the sum of the arm "
            "weights; one is drawn at random for every block. Empty: the weight total and "
            "twice it."
        ),
    )
    stratum_source = models.CharField(
        max_length=20, choices=StratumSource.choices, default=StratumSource.ENTRY_PARAMETER
    )
    stratum_parameter = models.CharField(
        max_length=50,
        blank=True,
        help_text="Entry-link parameter whose value is the participant's stratum, e.g. 'site'.",
    )
    stratum_values = models.JSONField(
        default=list,
        blank=True,
        help_text="Accepted stratum values; any other (or none) is the unspecified stratum.",
    )
    screening_question = models.CharField(
        max_length=300, blank=True, help_text="Asked after consent, before allocation."
    )
    screening_options = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"value": "uk", "label": "I live in the UK", "eligible": true}, ...]',
    )
    check_question = models.TextField(
        blank=True,
        help_text="Attention or comprehension check, asked after the instructions.",
    )
    check_options = models.JSONField(default=list, blank=True, help_text='["...", "..."]')
    check_answer = models.CharField(max_length=200, blank=True, help_text="The correct option.")
    check_attempts = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="Tries before the session ends."
    )
    quota_per_arm = models.PositiveIntegerField(
        null=True, blank=True, help_text="Responses (scenarios answered) per arm; empty: none."
    )
    quota_per_cell = models.PositiveIntegerField(
        null=True, blank=True, help_text="Responses per arm x scenario; empty: none."
    )
    time_limit_minutes = models.PositiveIntegerField(
        default=0, help_text="Inactivity after which a participant times out; 0: never."
    )
    timed_out_count_toward_quota = models.BooleanField(
        default=False,
        help_text=(
            "Off: the responses of a participant who timed out, returned or left after a "
            "technical problem are refilled by new participants."
        ),
    )
    # Prolific completion codes per outcome (the completed one is completion_code).
    code_screened_out = models.CharField(
        max_length=50, blank=True, help_text="Screened out or declined consent."
    )
    code_timed_out = models.CharField(max_length=50, blank=True)
    code_failed_check = models.CharField(max_length=50, blank=True)
    code_study_full = models.CharField(max_length=50, blank=True)
    code_technical_problem = models.CharField(
        max_length=50, blank=True, help_text="Left after the model kept failing."
    )
    technical_exit_after = models.PositiveSmallIntegerField(
        default=3,
        help_text=(
            "Failed replies in a row (errors or interrupted replies since the last complete "
            "one) after which the chat offers 'Leave the study: technical problem'; 0: never."
        ),
    )
    # The languages participants may take part in, the first the default (a link's
    # ?lang= or the start page's choice picks another); codes from settings.LANGUAGES.
    languages = models.JSONField(
        default=default_languages,
        help_text='Participant languages, the first the default, e.g. ["en", "de"].',
    )
    # Set for a study recruited on Prolific: entry then requires a PROLIFIC_PID and this
    # STUDY_ID, so anonymous visitors and bots cannot enrol (or fill the quotas).
    prolific_study_id = models.CharField(
        max_length=64,
        blank=True,
        help_text=(
            "Prolific's STUDY_ID for this study. When set, the entry link requires "
            "PROLIFIC_PID and this STUDY_ID; empty: anyone with the link may take part."
        ),
    )

    # Who may do what: StudyMembership (studies.roles), and ratings.StudyRater for raters.
    # accounts.permissions refuses this study's pages to whoever sees its participant-level
    # data (VIEW_RESULTS, raters) while they have no second factor (allauth.mfa).
    require_mfa = models.BooleanField(
        "Require two-factor authentication",
        default=False,
        help_text=(
            "Members who see participant-level data (transcripts, answers, exports) and "
            "raters must have set up two-factor authentication to open this study."
        ),
    )

    # --- Analysis choices. They belong to the analysis plan (AnalysisPlan.content
    # "condition_labels"); this field mirrors the current plan's value so that the
    # selectors read it with the study, at no query. Written only by studies.services
    # (plan_save, and study_condition_labels_set, which writes the plan), which records
    # every change (AnalysisChoiceChange).
    class ConditionLabels(models.TextChoices):
        MATCHER = "matcher", "The automatic matcher, for every answer"
        REFERENCE = "reference", "Rater reference labels where they exist, else the matcher"

    condition_labels = models.CharField(
        max_length=10,
        choices=ConditionLabels.choices,
        default=ConditionLabels.MATCHER,
        help_text=(
            "Which condition scores the figures use: the matcher's, or an answer's rater "
            "reference label (adjudicated, else agreed on) where it has one. Every change "
            "is recorded."
        ),
    )

    # --- The blinding guard (chat.blinding): what happens when a reply says one of its
    # arm's `blinding_terms` (the model's name, its maker).
    class BlindingAction(models.TextChoices):
        REPLACE = "replace", "Replace the word before the participant sees it (and record it)"
        FLAG = "flag", "Only record it (the participant sees the reply as written)"

    blinding_action = models.CharField(
        max_length=10, choices=BlindingAction.choices, default=BlindingAction.REPLACE
    )
    blinding_replacement = models.CharField(
        max_length=60,
        default="the assistant",
        help_text="The neutral words shown instead of a blinding term.",
    )

    objects = StudyQuerySet.as_manager()

    # The statuses whose entry link enrols new participants.
    ENROLLING = (Status.PILOT, Status.LIVE)
    # Paused: new participants are held at the door; those inside carry on.
    PAUSED_STATUSES = (Status.PAUSED, Status.PILOT_PAUSED)
    # The pilot phase, enrolling or paused.
    PILOT_STATUSES = (Status.PILOT, Status.PILOT_PAUSED)
    # Participants may be inside (enrolling or paused): the analysis stays blinded, chats
    # run, endpoints are watched, Prolific is synced.
    RUNNING = ENROLLING + PAUSED_STATUSES

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_enrolling(self) -> bool:
        return self.status in self.ENROLLING

    @property
    def is_pilot(self) -> bool:
        """In the pilot phase, enrolling or paused."""
        return self.status in self.PILOT_STATUSES

    @property
    def is_paused(self) -> bool:
        return self.status in self.PAUSED_STATUSES

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING

    @property
    def has_screening(self) -> bool:
        return bool(self.screening_question and self.screening_options)

    @property
    def has_check(self) -> bool:
        return bool(self.check_question and self.check_options and self.check_answer)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        sizes = self.allocation_block_sizes
        if not isinstance(sizes, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes
        ):
            errors["allocation_block_sizes"] = "A list of positive whole numbers, e.g. [4, 8]."
        values = self.stratum_values
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            errors["stratum_values"] = "A list of stratum names."
        options = self.screening_options
        if not isinstance(options, list) or not all(
            isinstance(o, dict)
            and isinstance(o.get("value"), str)
            and o["value"]
            and isinstance(o.get("label"), str)
            and isinstance(o.get("eligible"), bool)
            for o in options
        ):
            errors["screening_options"] = 'A list of {"value", "label", "eligible"} objects.'
        elif len({o["value"] for o in options}) != len(options):
            errors["screening_options"] = "Option values must be distinct."
        if self.screening_question and not options:
            errors["screening_options"] = "A screening question needs options."
        supported = {code for code, _name in settings.LANGUAGES}
        languages = self.languages
        if (
            not isinstance(languages, list)
            or not languages
            or not all(isinstance(c, str) and c in supported for c in languages)
            or len(set(languages)) != len(languages)
        ):
            errors["languages"] = f"A list of distinct language codes from {sorted(supported)}."
        checks = self.check_options
        if not isinstance(checks, list) or not all(isinstance(c, str) and c for c in checks):
            errors["check_options"] = "A list of answer options."
        elif self.check_question and self.check_answer not in checks:
            errors["check_answer"] = "The correct answer must be one of the options."
        if (
            self.allocation_method == self.AllocationMethod.STRATIFIED_BLOCKS
            and self.stratum_source == self.StratumSource.ENTRY_PARAMETER
            and not self.stratum_parameter
        ):
            errors["stratum_parameter"] = "Name the entry-link parameter that gives the stratum."
        if (
            self.allocation_method == self.AllocationMethod.STRATIFIED_BLOCKS
            and self.stratum_source == self.StratumSource.SCREENING
            and not self.screening_question
        ):
            errors["screening_question"] = "Stratifying by screening needs a screening question."
        if (
            self.allocation_method == self.AllocationMethod.STRATIFIED_BLOCKS
            and self.stratum_source == self.StratumSource.LANGUAGE
            and isinstance(languages, list)
            and len(languages) < 2
        ):
            errors["stratum_source"] = "Stratifying by language needs two languages or more."
        if "languages" not in errors and self.status in self.ENROLLING:
            errors.update(self._translation_errors())
        if errors:
            raise ValidationError(errors)

    def _translation_errors(self) -> dict[str, str]:
        """A live study offers only complete languages (studies.translations)."""
        if len(self.languages) < 2:
            return {}
        from studyapp.studies.translations import translation_status  # uses these models

        missing = [
            f"{status.language}: {', '.join(status.gaps)}"
            for status in translation_status(study=self)
            if status.gaps
        ]
        if not missing:
            return {}
        return {
            "languages": (
                "An enrolling study needs a complete translation for each of its languages "
                "(a new scenario section must be translated too): complete them on the "
                "study's Translations page. Missing: " + "; ".join(missing)
            )
        }


class StudyMembership(models.Model):
    """A user's role in a study (studies.roles says what each role may do). One role per
    user and study; written only by studies.members, and every change is on the study's
    audit trail (audit.history)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_memberships"
    )
    role = models.CharField(max_length=20, choices=roles.Role.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["study", "user"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="membership_one_per_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=roles.Role.values), name="membership_role_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.study}: {self.get_role_display()}"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self, now=None) -> InvitationQuerySet:
        """Neither accepted nor revoked, and not yet expired."""
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now or timezone.now()
        )


class Invitation(models.Model):
    """An owner's invitation of an e-mail address to a role in a study (studies.
    invitations is its only writer). The link's token is never stored: only its SHA-256,
    so a copy of the database opens no invitation. Accepting it makes the membership."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"
        ACCEPTED = "accepted", "Accepted"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=roles.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The last e-mail sent (a resend sends a new link); empty when sending failed.
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=roles.Role.values), name="invitation_role_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.study} as {self.get_role_display()}"

    def state(self, now=None) -> str:
        if self.accepted_at is not None:
            return self.State.ACCEPTED
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        return self.State.PENDING


class ScenarioQuerySet(models.QuerySet["Scenario"]):
    def active(self) -> ScenarioQuerySet:
        return self.filter(is_active=True)


class Scenario(TimeStampedModel):
    """A clinical vignette with its gold standard.

    Versioned: once a task refers to a scenario it is never edited in place; a change
    is a new row with the same key and a higher version, and the old one is deactivated.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="scenarios")
    key = models.SlugField(max_length=80)
    version = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    title = models.CharField(max_length=200)
    # Ordered sections: [{"heading": "...", "text": "..."}, ...], second person.
    sections = models.JSONField(default=list)
    gold_disposition = models.ForeignKey(DispositionLevel, on_delete=models.PROTECT)
    gold_conditions = models.JSONField(default=list)
    # Optional (an empty list is valid): blank=True, or full_clean() refuses [].
    red_flags = models.JSONField(default=list, blank=True)
    # Other names the scorer accepts for a gold term: {"myocardial infarction": ["MI",
    # "heart attack"]}. A synonym counts as the term it stands for.
    condition_synonyms = models.JSONField(default=dict, blank=True)
    # What graders look for (studies.content): rubric items for a chat or an answer, with
    # points (negative: harmful content), and the facts a participant should tell the
    # model, with phrases a matcher can find. Part of the gold standard: versioned with it.
    rubric = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            '[{"key": "advises-999", "text": "Advises calling 999", "points": 2, '
            '"applies_to": "model"}, ...]; points never 0, negative for harmful content; '
            "applies_to: model (the model's turns) or answer (the final answer)."
        ),
    )
    key_facts = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            '[{"key": "on-blood-thinner", "text": "Takes apixaban", '
            '"patterns": ["apixaban", "blood thinner"]}, ...]: what a participant should '
            "tell the model, and phrases that show they did."
        ),
    )
    provenance = models.TextField(blank=True)

    objects = ScenarioQuerySet.as_manager()

    class Meta:
        ordering = ["study", "key", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "key", "version"], name="scenario_unique_key_version"
            ),
            models.UniqueConstraint(
                fields=["study", "key"],
                condition=models.Q(is_active=True),
                name="scenario_one_active_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def clean(self) -> None:
        if (
            self.gold_disposition_id
            and self.study_id
            and self.gold_disposition.scale_id != self.study.disposition_scale_id
        ):
            raise ValidationError(
                {"gold_disposition": "The gold disposition must be a level of the study's scale."}
            )
        if not isinstance(self.sections, list) or not all(
            isinstance(s, dict) and s.get("text") for s in self.sections
        ):
            raise ValidationError({"sections": "Sections must be a list of {heading, text}."})
        for field in ("gold_conditions", "red_flags"):
            value = getattr(self, field)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationError({field: "Must be a list of strings."})
        synonyms = self.condition_synonyms
        if not isinstance(synonyms, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in synonyms.values()
        ):
            raise ValidationError(
                {"condition_synonyms": "Must map a gold term to a list of other names."}
            )
        if not self.gold_conditions:
            raise ValidationError({"gold_conditions": "At least one gold condition is needed."})
        errors = {
            name: messages
            for name, messages in (
                ("rubric", rubric_errors(self.rubric)),
                ("key_facts", key_facts_errors(self.key_facts)),
            )
            if messages
        }
        if errors:
            raise ValidationError(errors)


class AnalysisChoiceImmutableError(Exception):
    """The record of analysis choices is append-only."""


class AnalysisChoiceChange(models.Model):
    """One change of an analysis choice of a study (today `Study.condition_labels`): who,
    when, from and to. Append-only (the model refuses changes; a PostgreSQL trigger
    refuses UPDATE); the rows go only with their study. The choice itself now lives in the
    analysis plan (AnalysisPlan, versioned); these rows keep the history of its value."""

    study = models.ForeignKey(
        Study, on_delete=models.CASCADE, related_name="analysis_choice_changes"
    )
    # The Study field changed, e.g. "condition_labels".
    choice = models.CharField(max_length=50)
    old_value = models.CharField(max_length=50)
    new_value = models.CharField(max_length=50)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["study", "changed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.choice} of {self.study_id}: {self.old_value} -> {self.new_value}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AnalysisChoiceImmutableError("analysis choice changes are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AnalysisChoiceImmutableError("analysis choice changes are never deleted")


class AnalysisPlanLockedError(Exception):
    """A locked analysis plan is never changed; a change is a new version."""


class AnalysisPlan(models.Model):
    """One version of a study's analysis plan (studies.analysis_plan): canonical JSON and
    its SHA-256.

    Before the first allocation the newest version is a draft, edited in place. The first
    allocation locks it (`locked_at`, with the allocation design's digest) in the same
    transaction as the allocation; from then on no version changes, and an edit is a new
    version with a stated reason, whose additions the analysis labels exploratory.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="analysis_plans")
    version = models.PositiveIntegerField()
    content = models.JSONField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # None: the default plan, written by the platform.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    # sha256 of the allocation design frozen with it (participation.allocation.Design).
    design_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["study", "version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="analysis_plan_version")
        ]

    def __str__(self) -> str:
        return f"analysis plan v{self.version} of {self.study_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            stored = AnalysisPlan.objects.filter(pk=self.pk).values_list("locked_at", flat=True)
            if stored and stored[0] is not None:
                raise AnalysisPlanLockedError("a locked analysis plan is never changed")
        super().save(*args, **kwargs)


NOT_NEGATIVE_PRICE = MinValueValidator(0, message="A price cannot be negative.")


class ModelEndpoint(TimeStampedModel):
    """An OpenAI-compatible server (vLLM, or the scripted demo model).

    The API key is never stored: only the name of the environment variable holding it.
    """

    name = models.CharField(max_length=100, unique=True)
    # Who created it on the endpoints page: they (and superusers) may edit it. Empty for
    # endpoints made in the admin, by the command line or by a design file's import.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="model_endpoints",
    )
    # Not a URLField: Django's URL validator refuses single-label hosts such as "gpu-node",
    # which is how model servers on a cluster are usually reached.
    base_url = models.CharField(
        max_length=300,
        validators=[validate_http_base_url],
        help_text="e.g. http://gpu-node:8000/v1",
    )
    model = models.CharField(max_length=200, help_text="Model name the server expects.")
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the API key (not the key).",
    )
    is_scripted = models.BooleanField(
        default=False,
        help_text="A scripted demo model, not an LLM. The interface labels it as such.",
    )
    # A real engine serving a model too small to mean anything (SmolLM2-135M for `make run
    # MODEL=local` and the real-engine tests): labelled so to participants and analysts.
    is_test_model = models.BooleanField(
        default=False,
        help_text=(
            "A small model for testing, not for research or advice. Participants and "
            "investigators see it labelled 'small local model — for testing'."
        ),
    )
    timeout_s = models.FloatField(default=30.0, validators=[MinValueValidator(1.0)])
    max_concurrent_streams = models.PositiveIntegerField(
        default=64, help_text="Open chat streams per server process (participants' chats)."
    )
    # Evaluation jobs share this many requests in flight to the endpoint across every
    # worker process, so a baseline run cannot crowd out participants' live chats.
    evaluation_concurrency = models.PositiveIntegerField(
        default=8,
        validators=[MinValueValidator(1)],
        help_text="Requests in flight from evaluation jobs, all workers together.",
    )
    # Prices for the cost column of evaluation runs (per million tokens, any currency);
    # empty when unknown (a local vLLM server has no price).
    price_prompt_per_million = models.DecimalField(
        "price per million prompt tokens",
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[NOT_NEGATIVE_PRICE],
        help_text="Per million prompt (input) tokens. Empty: unknown.",
    )
    price_completion_per_million = models.DecimalField(
        "price per million completion tokens",
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[NOT_NEGATIVE_PRICE],
        help_text="Per million completion (output) tokens, in the same currency. Empty: unknown.",
    )

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.api_key_env and not self.api_key_env.replace("_", "").isalnum():
            raise ValidationError({"api_key_env": "Give an environment variable name."})
        if self.api_key_env and not self._api_key_env_allowed():
            prefix = settings.LLM_API_KEY_ENV_PREFIX
            raise ValidationError(
                {
                    "api_key_env": (
                        f"Only variables whose names start with {prefix} may hold model "
                        f"keys (e.g. {prefix}VLLM): the key is sent to this endpoint's URL."
                    )
                }
            )

    def _api_key_env_allowed(self) -> bool:
        # The key is sent to base_url, which whoever edits the endpoint chooses: naming
        # any variable (DJANGO_SECRET_KEY, a database password) would send it away.
        prefix = settings.LLM_API_KEY_ENV_PREFIX
        return self.api_key_env.startswith(prefix) and len(self.api_key_env) > len(prefix)

    def api_key(self) -> str:
        # Servers without authentication (vLLM's default) still need a non-empty key.
        if not self.api_key_env:
            return "EMPTY"
        # Checked again here: a row saved before the rule (or not through clean()) must
        # not read another variable.
        if not self._api_key_env_allowed():
            logger.warning(
                "model endpoint %s names the variable %s, which is not a model key "
                "variable (%s*): no key sent",
                self.pk,
                self.api_key_env,
                settings.LLM_API_KEY_ENV_PREFIX,
            )
            return "EMPTY"
        return os.environ.get(self.api_key_env, "") or "EMPTY"


def default_sampling_params() -> dict:
    return {"temperature": 0.8, "top_p": 0.9, "max_tokens": 256}


SAMPLING_KEYS = {
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "stop",
}


class Arm(TimeStampedModel):
    class Kind(models.TextChoices):
        LLM = "llm", "Chat with an LLM"
        CONTROL = "control", "Control (own sources)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    key = models.SlugField(max_length=50)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Participants are blinded to the model: this is all they ever see of the arm.
    participant_label = models.CharField(max_length=100, default="AI assistant")
    endpoint = models.ForeignKey(
        ModelEndpoint, on_delete=models.PROTECT, null=True, blank=True, related_name="arms"
    )
    system_prompt = models.TextField(blank=True)
    # Empty: the model server's own defaults (the arm page's fields may all be left blank).
    sampling_params = models.JSONField(default=default_sampling_params, blank=True)
    min_turns = models.PositiveSmallIntegerField(default=1)
    max_turns = models.PositiveSmallIntegerField(default=10, validators=[MaxValueValidator(100)])
    weight = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    # The longest a whole reply may take (first token to last), whatever the model does.
    reply_timeout_s = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1.0)],
        help_text="Longest a whole reply may take, in seconds; empty: the endpoint's timeout.",
    )
    control_instructions = models.TextField(
        blank=True,
        default=(
            "Use any methods you might ordinarily use at home to decide. "
            "Note below which sources you used."
        ),
    )
    # Words this arm's model must not say about itself (its name, its maker): participants
    # stay blind to the model (chat.blinding; the study says whether they are replaced).
    blinding_terms = models.JSONField(
        default=list,
        blank=True,
        help_text='A JSON list, e.g. ["Llama", "Meta AI"]: whole words, any case.',
    )

    class Meta:
        ordering = ["study", "key"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="arm_unique_key"),
            models.CheckConstraint(
                condition=models.Q(kind="control") | models.Q(endpoint__isnull=False),
                name="arm_llm_needs_endpoint",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.key}"

    @property
    def is_llm(self) -> bool:
        return self.kind == self.Kind.LLM

    def clean(self) -> None:
        if self.kind == self.Kind.LLM and not self.endpoint_id:
            raise ValidationError({"endpoint": "An LLM arm needs a model endpoint."})
        if self.min_turns > self.max_turns:
            raise ValidationError({"min_turns": "Minimum turns exceed the maximum."})
        if not isinstance(self.sampling_params, dict):
            raise ValidationError({"sampling_params": "Must be an object."})
        unknown = set(self.sampling_params) - SAMPLING_KEYS
        if unknown:
            raise ValidationError(
                {"sampling_params": f"Unknown parameters: {', '.join(sorted(unknown))}"}
            )
        terms = self.blinding_terms
        if not isinstance(terms, list) or not all(
            isinstance(t, str) and t.strip() and len(t) <= 60 for t in terms
        ):
            raise ValidationError(
                {"blinding_terms": "A list of words or short phrases (60 characters at most)."}
            )


# --- Translations: a study runs in its first language (Study.languages[0]); every other
# language it offers has one StudyTranslation and, per scenario version, a
# ScenarioTranslation (studies.translations resolves what a participant reads).


class TranslationMethod(models.TextChoices):
    PROFESSIONAL = "professional", "Professional translator"
    BILINGUAL_TEAM = "bilingual_team", "Bilingual member of the study team"
    MACHINE_REVIEWED = "machine_reviewed", "Machine translation, reviewed by a person"
    MACHINE = "machine", "Machine translation, not reviewed"


def translation_language_choices() -> list[tuple[str, str]]:
    return list(settings.LANGUAGES)


class Translation(TimeStampedModel):
    """A translation and its provenance: who made it, how, from which source text."""

    # What a person says of the translation (the translation pages, the admin, design
    # files); source_digest is recorded, never typed.
    PROVENANCE_FIELDS = ("method", "translated_by", "reviewed_by", "translated_on", "notes")

    language = models.CharField(max_length=10, choices=translation_language_choices)
    method = models.CharField(max_length=20, choices=TranslationMethod.choices)
    translated_by = models.CharField(
        max_length=200, help_text="Who translated it: a person, an agency or a service."
    )
    reviewed_by = models.CharField(
        max_length=200, blank=True, help_text="Who checked it against the source, if anyone."
    )
    translated_on = models.DateField(default=timezone.localdate)
    notes = models.TextField(blank=True, help_text="E.g. back-translation, what was adapted.")
    # Digest of the source texts this translation was made from (translation_sources):
    # when the source is edited afterwards, the translation shows as out of date.
    source_digest = models.CharField(max_length=64, editable=False)

    class Meta:
        abstract = True

    def source(self) -> dict:
        raise NotImplementedError

    def record_source(self) -> None:
        """Say that this translation matches the source as it is now."""
        self.source_digest = digest(self.source())

    @property
    def is_current(self) -> bool:
        return self.source_digest == digest(self.source())

    def save(self, *args, **kwargs) -> None:
        if not self.source_digest:
            self.record_source()
        super().save(*args, **kwargs)


def _text_errors(value, keys: tuple[str, ...]) -> bool:
    return not isinstance(value, dict) or not all(
        isinstance(entry, dict)
        and all(isinstance(entry.get(k, ""), str) for k in keys)
        and set(entry) <= set(keys)
        for entry in value.values()
    )


class StudyTranslation(Translation):
    """The study's participant-facing texts in one of its other languages.

    Option labels are keyed by what they translate (a screening option's value, a check
    option's source text, a level's code, an arm's key): the values participants submit
    stay the source's, so answers mean the same in every language.
    """

    # The texts it translates (the translation page, design files).
    TEXT_FIELDS = (
        "public_title",
        "consent_text",
        "instructions_text",
        "disposition_question",
        "conditions_question",
        "screening_question",
        "screening_labels",
        "check_question",
        "check_labels",
        "levels",
        "arms",
    )

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="translations")
    public_title = models.CharField(max_length=200)
    consent_text = models.TextField()
    instructions_text = models.TextField()
    disposition_question = models.CharField(max_length=300)
    conditions_question = models.CharField(max_length=300)
    screening_question = models.CharField(max_length=300, blank=True)
    screening_labels = models.JSONField(
        default=dict, blank=True, help_text='{"<option value>": "<label>", ...}'
    )
    check_question = models.TextField(blank=True)
    check_labels = models.JSONField(
        default=dict, blank=True, help_text='{"<option as in the source>": "<label>", ...}'
    )
    levels = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"<level code>": {"label": "...", "description": "..."}, ...}',
    )
    arms = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            '{"<arm key>": {"participant_label": "...", "control_instructions": "..."}, ...}'
        ),
    )

    class Meta:
        ordering = ["study", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "language"], name="study_translation_one_per_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} ({self.language})"

    def source(self) -> dict:
        return study_source(self.study)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for field in ("screening_labels", "check_labels"):
            value = getattr(self, field)
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                errors[field] = "An object of option → label."
        if _text_errors(self.levels, ("label", "description")):
            errors["levels"] = 'An object of level code → {"label", "description"}.'
        if _text_errors(self.arms, ("participant_label", "control_instructions")):
            errors["arms"] = (
                'An object of arm key → {"participant_label", "control_instructions"}.'
            )
        if self.study_id and self.study.languages and self.language == self.study.languages[0]:
            errors["language"] = "The study is written in this language: nothing to translate."
        if errors:
            raise ValidationError(errors)


class ScenarioTranslation(Translation):
    """One scenario version's title and sections in another language of its study.

    The gold standard is not translated: a scenario version has one. Other names of the
    gold conditions in this language belong in Scenario.condition_synonyms, which the
    scorer reads whatever language an answer is in.
    """

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="translations")
    title = models.CharField(max_length=200)
    sections = models.JSONField(default=list, help_text='[{"heading": "...", "text": "..."}, ...]')

    class Meta:
        ordering = ["scenario", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["scenario", "language"], name="scenario_translation_one_per_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} ({self.language})"

    def source(self) -> dict:
        return scenario_source(self.scenario)

    def clean(self) -> None:
        sections = self.sections
        # A section's text may be empty while the study is a draft (the translation pages
        # save work in progress; studies.translations counts it as missing, which keeps
        # the study from going live).
        if not isinstance(sections, list) or not all(
            isinstance(s, dict)
            and isinstance(s.get("text"), str)
            and isinstance(s.get("heading", ""), str)
            for s in sections
        ):
            raise ValidationError({"sections": "Sections must be a list of {heading, text}."})
        if self.scenario_id and len(sections) != len(self.scenario.sections):
            raise ValidationError(
                {
                    "sections": (
                        f"The scenario has {len(self.scenario.sections)} sections; "
                        f"this translation has {len(sections)}."
                    )
                }
            )
