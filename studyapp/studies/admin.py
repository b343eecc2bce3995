"""Admin for study configuration. A member of a study sees its objects here only with a
role that may change the study (owner, collaborator: studies.roles.CHANGE_STUDY); other
roles use the study's pages. Superusers see everything and alone grant roles here."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from studyapp.accounts.permissions import endpoints_visible_to
from studyapp.chat.blinding import occurrences
from studyapp.chat.llm import EndpointConfig
from studyapp.chat.llm.probe import probe_endpoint
from studyapp.studies.builder_blinding import arm_terms_check, study_blinding_loosened
from studyapp.studies.launch import launch_problems
from studyapp.studies.members import membership_grant
from studyapp.studies.models import (
    Arm,
    DispositionLevel,
    DispositionScale,
    ModelEndpoint,
    Scenario,
    ScenarioTranslation,
    Study,
    StudyMembership,
    StudyTranslation,
    Translation,
)
from studyapp.studies.roles import CHANGE_STUDY, Role
from studyapp.studies.services import scenario_create_new_version, study_condition_labels_set
from studyapp.studies.translations import translation_status


class StudyScopedAdminMixin:
    """Limits rows (and study choices in forms) to the studies the user may see.

    `study_path` is the lookup from the model to its Study.
    """

    study_path: str = "study"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        visible = Study.objects.visible_to(request.user, CHANGE_STUDY)
        return queryset.filter(**{f"{self.study_path}__in": visible})

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is Study:
            kwargs["queryset"] = Study.objects.visible_to(request.user, CHANGE_STUDY)
        elif db_field.related_model is ModelEndpoint:
            kwargs["queryset"] = endpoints_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class DispositionLevelInline(admin.TabularInline):
    model = DispositionLevel
    extra = 0
    ordering = ["-value"]
    fields = ["value", "code", "label", "description"]


@admin.register(DispositionScale)
class DispositionScaleAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "level_count"]
    search_fields = ["name", "slug"]
    inlines = [DispositionLevelInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        from django.db.models import Count

        return super().get_queryset(request).annotate(_level_count=Count("levels"))

    @admin.display(description="levels", ordering="_level_count")
    def level_count(self, obj: DispositionScale) -> int:
        return obj._level_count


PROVENANCE_FIELDS = list(Translation.PROVENANCE_FIELDS)


class TranslationFormsetMixin:
    """Saving a translation says it matches the source as it is now (its digest), so an
    edit of the source afterwards shows it as out of date."""

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model not in (StudyTranslation, ScenarioTranslation):
            super().save_formset(request, form, formset, change)
            return
        # save(commit=False) is what fills deleted_objects: call it first.
        changed = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for obj in changed:
            obj.record_source()
            obj.save()


class StudyTranslationInline(admin.StackedInline):
    model = StudyTranslation
    extra = 0
    fields = [
        "language",
        "public_title",
        "consent_text",
        "instructions_text",
        "disposition_question",
        "conditions_question",
        "levels",
        "arms",
        "screening_question",
        "screening_labels",
        "check_question",
        "check_labels",
        *PROVENANCE_FIELDS,
    ]


class ScenarioTranslationInline(admin.StackedInline):
    model = ScenarioTranslation
    extra = 0
    fields = ["language", "title", "sections", *PROVENANCE_FIELDS]

    def _frozen(self, obj: Scenario | None) -> bool:
        return obj is not None and obj.tasks.exists()

    # What participants read is kept as they read it: once tasks use the scenario, its
    # translations are frozen like the scenario itself (a change is a new version, which
    # copies them); a language may still be added.
    def get_readonly_fields(self, request: HttpRequest, obj: Scenario | None = None):
        return self.fields if self._frozen(obj) else []

    def has_change_permission(self, request: HttpRequest, obj: Scenario | None = None) -> bool:
        return not self._frozen(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Scenario | None = None) -> bool:
        return not self._frozen(obj) and super().has_delete_permission(request, obj)


class StudyMembershipInline(admin.TabularInline):
    """Roles in the study, for superusers; saved rows are on the audit trail
    (audit.history records every membership saved or deleted)."""

    model = StudyMembership
    fk_name = "study"
    extra = 0
    fields = ["user", "role", "granted_by", "granted_at"]
    readonly_fields = ["granted_by", "granted_at"]
    autocomplete_fields = ["user"]


class StudyAdminForm(forms.ModelForm):
    """Setting a study live runs the launch checklist (studies.launch) and refuses the
    save with its reasons, next to the status. The blinding guard keeps the Blinding
    page's rules (studies.builder_blinding): never loosened once participants entered, and
    replacement words that say none of the arms' terms."""

    def clean(self):
        cleaned = super().clean()
        stored = self.instance  # the stored study: the form's values go in after clean()
        if stored.pk is None:
            return cleaned
        action = cleaned.get("blinding_action")
        if action and (loosened := study_blinding_loosened(study=stored, action=action)):
            self.add_error("blinding_action", loosened)
        replacement = cleaned.get("blinding_replacement")
        if replacement:
            terms = [t for arm in stored.arms.all() for t in arm.blinding_terms]
            if found := occurrences(replacement, terms):
                self.add_error(
                    "blinding_replacement",
                    f"These words say “{found[0].term}”, a blinding term of the study's "
                    "arms: choose neutral words (e.g. the assistant).",
                )
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()  # the instance now holds the form's values
        study = self.instance
        if self.errors or study.status not in Study.ENROLLING or "status" not in self.changed_data:
            return
        if self.initial.get("status") in Study.PILOT_STATUSES:
            # Ending a pilot asks what becomes of its participants: the launch page asks.
            self.add_error(
                "status",
                "The study is in its pilot: launch it from its Launch page, which asks "
                "whether to keep or clear the pilot's data.",
            )
            return
        if study.pk is None:
            self.add_error(
                "status",
                "Save a new study as a draft first: going live checks its arms and "
                "scenarios, which are added after.",
            )
            return
        problems = launch_problems(study)
        if problems:
            self.add_error(
                "status",
                ValidationError([f"{p.message} Fix: {p.where}" for p in problems]),
            )


@admin.register(Study)
class StudyAdmin(TranslationFormsetMixin, StudyScopedAdminMixin, admin.ModelAdmin):
    study_path = "pk"
    form = StudyAdminForm
    list_display = ["title", "slug", "status", "scenarios_per_participant", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    fieldsets = [
        (None, {"fields": ["title", "slug", "public_title", "status", "disposition_scale"]}),
        (
            "Participant flow",
            {
                "fields": [
                    "languages",
                    "translations_status",
                    "scenarios_per_participant",
                    "consent_text",
                    "instructions_text",
                    "disposition_question",
                    "conditions_question",
                    "completion_code",
                    "completion_url",
                ]
            },
        ),
        (
            "Allocation",
            {
                "fields": [
                    "allocation_method",
                    "allocation_block_sizes",
                    "stratum_source",
                    "stratum_parameter",
                    "stratum_values",
                    "allocation_seed",
                ],
                "description": (
                    "Fixed at the first allocation: later changes to the method, block sizes, "
                    "seed, arms or weights do not change the sequence."
                ),
            },
        ),
        (
            "Screening and attention check",
            {
                "fields": [
                    "screening_question",
                    "screening_options",
                    "check_question",
                    "check_options",
                    "check_answer",
                    "check_attempts",
                ]
            },
        ),
        (
            "Quotas and attrition",
            {
                "fields": [
                    "quota_per_arm",
                    "quota_per_cell",
                    "time_limit_minutes",
                    "timed_out_count_toward_quota",
                ]
            },
        ),
        (
            "Prolific: the study's STUDY_ID and completion codes per outcome",
            {
                "fields": [
                    "prolific_study_id",
                    "code_screened_out",
                    "code_timed_out",
                    "code_failed_check",
                    "code_study_full",
                    "code_technical_problem",
                    "technical_exit_after",
                ]
            },
        ),
        (
            "Blinding guard",
            {
                "fields": ["blinding_action", "blinding_replacement"],
                "description": (
                    "What happens when a reply says one of its arm's blinding terms (the "
                    "model's name, its maker): every occurrence is recorded and counted per "
                    "arm on the dashboard; replaced, the participant sees the neutral words."
                ),
            },
        ),
        (
            "Analysis",
            {
                "fields": ["condition_labels", "analysis_choice_history"],
                "description": (
                    "Choices the analysis honours until the analysis plan holds them; "
                    "every change is recorded."
                ),
            },
        ),
    ]
    ALLOCATION_FIELDS = [
        "allocation_method",
        "allocation_block_sizes",
        "stratum_source",
        "stratum_parameter",
        "stratum_values",
        "allocation_seed",
        "screening_options",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Study | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        # Concealment: the seed is the key to every future arm, so investigators never see
        # it (superusers stand in for the trial statistician who holds the list).
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "allocation_seed"]})
            for name, opts in fieldsets
        ]

    inlines = [StudyTranslationInline]

    def get_inlines(self, request: HttpRequest, obj: Study | None = None):
        # Only administrators grant roles here (a list of every user is not for
        # investigators); owners do it on the study's Members page.
        if request.user.is_superuser:
            return [*self.inlines, StudyMembershipInline]
        return self.inlines

    def get_readonly_fields(self, request: HttpRequest, obj: Study | None = None) -> list[str]:
        readonly: list[str] = ["analysis_choice_history", "translations_status"]
        # Changing the design after enrolment began would make the sequence irreproducible.
        if obj is not None and obj.participants.exists():
            readonly += ["disposition_scale", *self.ALLOCATION_FIELDS]
        return readonly

    @admin.display(description="Translations")
    def translations_status(self, obj: Study | None) -> str:
        if obj is None or not obj.pk or len(obj.languages) < 2:
            return "One language: nothing to translate."
        rows = []
        for status in translation_status(study=obj):
            lacks = "complete" if status.is_complete else "lacks " + ", ".join(status.gaps)
            late = (
                "; made before the source's last edit: " + ", ".join(status.out_of_date)
                if status.out_of_date
                else ""
            )
            rows.append((status.language, lacks, late))
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}{}</li>", rows))

    @admin.display(description="Changes")
    def analysis_choice_history(self, obj: Study | None) -> str:
        changes = (
            obj.analysis_choice_changes.select_related("changed_by").order_by("-changed_at", "-pk")
            if obj is not None and obj.pk
            else []
        )
        rows = [
            (f"{c.changed_at:%Y-%m-%d %H:%M}", c.changed_by, c.choice, c.old_value, c.new_value)
            for c in changes
        ]
        if not rows:
            return "None yet."
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{} UTC by {}: {} {} → {}</li>", rows),
        )

    def save_model(self, request: HttpRequest, obj: Study, form, change: bool) -> None:
        # The analysis choice goes through its service, which records the change (who,
        # when, from, to); everything else is saved as before. A new study starts at the
        # default, so choosing otherwise when creating it is recorded too.
        chosen = obj.condition_labels
        obj.condition_labels = (
            Study.objects.values_list("condition_labels", flat=True).get(pk=obj.pk)
            if change
            else Study.ConditionLabels.MATCHER
        )
        super().save_model(request, obj, form, change)
        study_condition_labels_set(study=obj, condition_labels=chosen, changed_by=request.user)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not StudyMembership:
            super().save_formset(request, form, formset, change)
            return
        changed = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj._audit_actor = request.user
            obj.delete()
        for obj in changed:
            obj.granted_by = obj._audit_actor = request.user
            obj.save()

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # An investigator who creates a study owns it (and must still see it afterwards).
        if not change and not request.user.is_superuser:
            membership_grant(
                study=form.instance, user=request.user, role=Role.OWNER, granted_by=request.user
            )


class ScenarioAdminForm(forms.ModelForm):
    def clean_red_flags(self) -> list:
        # Red flags are optional: an emptied box is no red flag, not a null the model refuses.
        return self.cleaned_data["red_flags"] or []


@admin.register(Scenario)
class ScenarioAdmin(TranslationFormsetMixin, StudyScopedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "key", "version", "is_active", "study", "gold_disposition"]
    list_filter = ["is_active", ("study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["study", "gold_disposition"]
    search_fields = ["key", "title"]
    actions = ["create_new_version"]
    form = ScenarioAdminForm
    fields = [
        "study",
        "key",
        "version",
        "is_active",
        "title",
        "sections",
        "gold_disposition",
        "gold_conditions",
        "red_flags",
        "condition_synonyms",
        "rubric",
        "key_facts",
        "provenance",
    ]
    inlines = [ScenarioTranslationInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Scenario | None = None):
        # A scenario that data refers to is frozen: a change is a new version (action).
        if obj is not None and obj.tasks.exists():
            return self.fields
        return ["version"] if obj is None else ["study", "key", "version"]

    def has_delete_permission(self, request: HttpRequest, obj: Scenario | None = None) -> bool:
        if obj is not None and obj.tasks.exists():
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(description="Create new version (copy, deactivate the old one)")
    def create_new_version(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        if not self.has_add_permission(request):
            self.message_user(request, "You may not add scenarios.", messages.ERROR)
            return
        created = [scenario_create_new_version(scenario_id=s.pk) for s in queryset]
        for scenario in created:
            self.message_user(
                request,
                f"Created {scenario.key} version {scenario.version}; edit it before use.",
                messages.SUCCESS,
            )


PRICE_FIELDS = ("price_prompt_per_million", "price_completion_per_million")


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "model",
        "base_url",
        "is_scripted",
        "is_test_model",
        "timeout_s",
        "evaluation_concurrency",
        *PRICE_FIELDS,
    ]
    list_filter = ["is_scripted", "is_test_model"]
    search_fields = ["name", "model"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "base_url",
                    "model",
                    "api_key_env",
                    "is_scripted",
                    "is_test_model",
                ],
                "description": (
                    "The API key is read from the environment variable named here, whose "
                    f"name must start with {settings.LLM_API_KEY_ENV_PREFIX} (e.g. "
                    f"{settings.LLM_API_KEY_ENV_PREFIX}VLLM); it is sent to the base URL."
                ),
            },
        ),
        (
            "Load",
            {
                "fields": ["timeout_s", "max_concurrent_streams", "evaluation_concurrency"],
                "description": (
                    "Participants' chats and evaluation jobs share the server: keep the "
                    "evaluation concurrency low enough to leave room for live chats."
                ),
            },
        ),
        (
            "Prices per million tokens",
            {
                "fields": list(PRICE_FIELDS),
                "description": (
                    "For the cost column of evaluation runs (any currency; empty for a local "
                    "server). Each run keeps the prices it started with, so a change here "
                    "applies to new runs only."
                ),
            },
        ),
    ]
    actions = ["test_connection"]

    @admin.action(description="Test connection (one short streamed reply)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[ModelEndpoint]) -> None:
        for endpoint in queryset[:10]:
            result = async_to_sync(probe_endpoint)(EndpointConfig.from_endpoint(endpoint))
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{endpoint.name}: {result.detail}", level)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Investigators see the endpoints their studies' arms use; superusers create them.
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=endpoints_visible_to(request.user).values("pk"))


class ArmAdminForm(forms.ModelForm):
    """An arm's blinding terms may be added but not removed once participants entered,
    as on the arm page (studies.builder_blinding.arm_terms_check)."""

    def clean(self):
        cleaned = super().clean()
        terms = cleaned.get("blinding_terms")
        arm = self.instance  # still the stored arm: the form's values go in after clean()
        study = cleaned.get("study") or getattr(arm, "study", None)
        if study is not None and isinstance(terms, list):
            old = arm.blinding_terms if arm.pk is not None else []
            try:
                arm_terms_check(study=study, old=old, new=terms)
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(Arm)
class ArmAdmin(StudyScopedAdminMixin, admin.ModelAdmin):
    form = ArmAdminForm
    list_display = ["key", "study", "kind", "participant_label", "endpoint", "weight"]
    list_filter = ["kind", ("study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["study", "endpoint"]
    search_fields = ["key", "participant_label"]

    def get_readonly_fields(self, request: HttpRequest, obj: Arm | None = None) -> list[str]:
        # Once participants are allocated, the arm's identity and its weight (part of the
        # allocation design) are part of the data.
        if obj is not None and (obj.participants.exists() or obj.allocations.exists()):
            return ["study", "key", "kind", "weight"]
        return []

    def has_delete_permission(self, request: HttpRequest, obj: Arm | None = None) -> bool:
        # An arm named in a study's frozen allocation design stays, allocated or not.
        if obj is not None and obj.study.allocations.exists():
            return False
        return super().has_delete_permission(request, obj)
