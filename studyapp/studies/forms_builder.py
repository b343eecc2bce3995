"""Forms of the study builder (studies.views_builder). Lists are typed one entry per line;
a scenario's synonyms one gold term per line, `term = other name, other name`. The
model's own checks run in the services and the view puts each message beside its field."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.db import models

from studyapp.studies import roles
from studyapp.studies.models import (
    Arm,
    DispositionLevel,
    DispositionScale,
    ModelEndpoint,
    Scenario,
    Study,
)

LINES_HELP = "One per line."


def _language_choices() -> list[tuple[str, str]]:
    return list(settings.LANGUAGES)


def lines_parse(text: str) -> list[str]:
    """The non-empty lines, stripped, each once (the first spelling kept)."""
    seen: set[str] = set()
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and line.casefold() not in seen:
            seen.add(line.casefold())
            out.append(line)
    return out


def synonyms_format(synonyms: dict[str, list[str]]) -> str:
    return "\n".join(f"{term} = {', '.join(names)}" for term, names in synonyms.items())


class _SlugField(forms.SlugField):
    def __init__(self, **kwargs):
        super().__init__(
            max_length=50,
            help_text="In the study's addresses: letters, digits, - and _.",
            **kwargs,
        )


def _slug_free(slug: str) -> str:
    if Study.objects.filter(slug=slug).exists():
        raise forms.ValidationError("A study with this slug exists: choose another.")
    return slug


class StudyNewForm(forms.Form):
    title = forms.CharField(
        max_length=200, help_text="For investigators; participants see the public title."
    )
    slug = _SlugField()
    # languages_field.js hides the first language among the others (and unticks it), so
    # nobody is offered the same language twice; without the script, clean() says so.
    first_language = forms.ChoiceField(
        choices=_language_choices,
        initial="en",
        help_text="The language the study is written in.",
        widget=forms.Select(attrs={"data-first-language": ""}),
    )
    other_languages = forms.MultipleChoiceField(
        choices=_language_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"data-other-languages": ""}),
        help_text="Offered too, once translated: not the first language.",
    )
    quota_per_arm = forms.IntegerField(
        min_value=1,
        label="Responses per arm",
        help_text=(
            "The target sample: enrolment stops once each arm has this many answered "
            "scenarios (participants per arm times scenarios each, 2 by default). HELPMed: 600 "
            "per arm, from 1,298 participants over 4 arms doing two scenarios each. An "
            "estimate will do: the study's Sample size page computes one, and Allocation "
            "and quotas changes it."
        ),
    )
    disposition_scale = forms.ModelChoiceField(
        queryset=DispositionScale.objects.order_by("name"),
        help_text="The care levels participants choose from; fixed once the study starts.",
    )
    consent_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    instructions_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))

    def clean_slug(self) -> str:
        return _slug_free(self.cleaned_data["slug"])

    def clean(self):
        data = super().clean()
        first = data.get("first_language")
        if first and first in data.get("other_languages", []):
            name = dict(_language_choices())[first]
            self.add_error(
                "other_languages",
                f"{name} is the first language already: tick only the languages offered "
                "besides it.",
            )
        return data

    def languages(self) -> list[str]:
        return [self.cleaned_data["first_language"], *self.cleaned_data["other_languages"]]


class StudyCopyForm(forms.Form):
    source = forms.ModelChoiceField(
        queryset=Study.objects.none(),
        label="Study to copy",
        help_text=(
            "Its settings, arms, scenarios, translations, questionnaires and analysis plan; "
            "not its participants, members or allocation seed."
        ),
    )
    slug = _SlugField(label="Slug of the copy")
    title = forms.CharField(max_length=200, label="Title of the copy")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # A copy carries the arms' models: only studies whose design the user may see.
        self.fields["source"].queryset = Study.objects.visible_to(
            user, roles.VIEW_DESIGN
        ).order_by("title")

    def clean_slug(self) -> str:
        return _slug_free(self.cleaned_data["slug"])


class StudySettingsForm(forms.Form):
    title = forms.CharField(max_length=200)
    public_title = forms.CharField(max_length=200, help_text="Shown to participants.")
    consent_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}))
    instructions_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}))
    disposition_question = forms.CharField(max_length=300)
    conditions_question = forms.CharField(max_length=300)
    disposition_scale = forms.ModelChoiceField(queryset=DispositionScale.objects.order_by("name"))
    languages = forms.CharField(
        max_length=100,
        help_text="Language codes separated by commas, the first the default, e.g. en, de.",
    )
    require_mfa = forms.BooleanField(
        required=False,
        label=Study._meta.get_field("require_mfa").verbose_name,
        help_text=Study._meta.get_field("require_mfa").help_text,
    )

    def __init__(
        self,
        *args,
        study: Study,
        locked: bool,
        may_require_mfa: bool,
        user_has_mfa: bool,
        **kwargs,
    ):
        self.user_has_mfa = user_has_mfa
        kwargs.setdefault(
            "initial",
            {
                **{name: getattr(study, name) for name in self.base_fields},
                "languages": ", ".join(study.languages),
            },
        )
        super().__init__(*args, **kwargs)
        if locked:
            for name in ("disposition_scale", "languages"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed: the study is live or has participants."
        if not may_require_mfa:
            # Owners only: a collaborator must not be able to lower the study's protection.
            self.fields["require_mfa"].disabled = True
            self.fields["require_mfa"].help_text += " Only the study's owners change this."

    def clean_require_mfa(self) -> bool:
        value = self.cleaned_data["require_mfa"]
        if value and not self.user_has_mfa and not self.fields["require_mfa"].disabled:
            # Saving would shut them out of the page they are on.
            raise forms.ValidationError(
                "Set up two-factor authentication for your own account first "
                "(Two-factor authentication, at the top of the page)."
            )
        return value

    def clean_languages(self):
        value = self.cleaned_data["languages"]
        if isinstance(value, list):  # a disabled field's initial
            return value
        return [c.strip() for c in value.split(",") if c.strip()]


class ScenarioForm(forms.Form):
    key = forms.SlugField(max_length=80, help_text="Names the scenario in data and exports.")
    title = forms.CharField(max_length=200)
    gold_disposition = forms.ModelChoiceField(
        queryset=DispositionLevel.objects.none(), label="Gold disposition"
    )
    gold_conditions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=LINES_HELP + " At least one.",
        error_messages={"required": "At least one gold condition is needed."},
    )
    red_flags = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=LINES_HELP
    )
    condition_synonyms = forms.CharField(
        required=False,
        label="Condition synonyms",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "One gold condition or red flag per line: “term = other name, other name”. "
            "The scorer counts another name as the term."
        ),
    )
    provenance = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Where the scenario comes from.",
    )

    def __init__(self, *args, study: Study, scenario: Scenario | None = None, **kwargs):
        if scenario is not None:
            kwargs.setdefault(
                "initial",
                {
                    "key": scenario.key,
                    "title": scenario.title,
                    "gold_disposition": scenario.gold_disposition_id,
                    "gold_conditions": "\n".join(scenario.gold_conditions),
                    "red_flags": "\n".join(scenario.red_flags),
                    "condition_synonyms": synonyms_format(scenario.condition_synonyms),
                    "provenance": scenario.provenance,
                },
            )
        super().__init__(*args, **kwargs)
        self.study, self.scenario = study, scenario
        self.fields["gold_disposition"].queryset = study.disposition_scale.levels.order_by(
            "-value"
        )
        # The level as participants read it ("Ambulance"), most acute first: its rank
        # ("Ambulance (4)") means nothing on this page.
        self.fields["gold_disposition"].label_from_instance = lambda level: level.label
        if scenario is not None:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "The key names every version: it does not change."

    def clean_key(self) -> str:
        key = self.cleaned_data["key"]
        if self.scenario is None and Scenario.objects.filter(study=self.study, key=key).exists():
            raise forms.ValidationError("Another scenario of this study has this key.")
        return key

    def clean_gold_conditions(self) -> list[str]:
        terms = lines_parse(self.cleaned_data["gold_conditions"])
        if not terms:
            raise forms.ValidationError("At least one gold condition is needed.")
        return terms

    def clean_red_flags(self) -> list[str]:
        return lines_parse(self.cleaned_data["red_flags"])

    def clean(self):
        data = super().clean()
        text = data.get("condition_synonyms", "")
        if "gold_conditions" not in data or not text:
            data["condition_synonyms"] = {}
            return data
        terms = {t.casefold(): t for t in [*data["gold_conditions"], *data.get("red_flags", [])]}
        synonyms: dict[str, list[str]] = {}
        problems = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            term, sep, names = line.partition("=")
            term = term.strip()
            if not sep or not term:
                problems.append(f"Line {number}: write “term = other name, other name”.")
                continue
            if term.casefold() not in terms:
                problems.append(
                    f"Line {number}: “{term}” is not one of the gold conditions or red flags."
                )
                continue
            names = [n.strip() for n in names.split(",") if n.strip()]
            if not names:
                problems.append(f"Line {number}: give at least one other name for “{term}”.")
                continue
            synonyms.setdefault(terms[term.casefold()], [])
            synonyms[terms[term.casefold()]] += [
                n for n in names if n not in synonyms[terms[term.casefold()]]
            ]
        if problems:
            self.add_error("condition_synonyms", problems)
        else:
            data["condition_synonyms"] = synonyms
        return data


def sections_from_post(data) -> list[dict[str, str]]:
    """The sections as posted: parallel lists of headings and texts, in page order."""
    headings = data.getlist("section_heading")
    texts = data.getlist("section_text")
    return [
        {"heading": heading.strip(), "text": text.strip()}
        for heading, text in zip(headings, texts, strict=False)
    ]


def sections_apply(sections: list[dict[str, str]], action: str) -> list[dict[str, str]]:
    """Add, remove or move a section (the page's buttons: "add", "remove-2", "up-2",
    "down-2"); anything else leaves them as they are."""
    sections = list(sections)
    verb, _, index_text = action.partition("-")
    if verb == "add":
        return [*sections, {"heading": "", "text": ""}]
    if not index_text.isdigit() or int(index_text) >= len(sections):
        return sections
    i = int(index_text)
    if verb == "remove":
        del sections[i]
    elif verb == "up" and i > 0:
        sections[i - 1], sections[i] = sections[i], sections[i - 1]
    elif verb == "down" and i < len(sections) - 1:
        sections[i + 1], sections[i] = sections[i], sections[i + 1]
    return sections


def sections_errors(sections: list[dict[str, str]]) -> dict[int, str]:
    """A message per section at fault (by index): each needs its text."""
    return {i: "Write the section's text." for i, s in enumerate(sections) if not s["text"]}


class ArmForm(forms.Form):
    key = forms.SlugField(max_length=50, help_text="Names the arm in data, exports and the plan.")
    kind = forms.ChoiceField(choices=Arm.Kind.choices)
    participant_label = forms.CharField(
        max_length=100,
        initial="AI assistant",
        help_text="All participants ever see of the arm: never the model's name.",
    )
    endpoint = forms.ModelChoiceField(
        queryset=ModelEndpoint.objects.none(),
        required=False,
        help_text="LLM arms: the model server (those your studies use; /endpoints/ lists them).",
    )
    system_prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))
    temperature = forms.FloatField(required=False, min_value=0, max_value=2, initial=0.8)
    top_p = forms.FloatField(required=False, min_value=0, max_value=1, initial=0.9)
    max_tokens = forms.IntegerField(required=False, min_value=1, initial=256)
    min_turns = forms.IntegerField(min_value=0, initial=1)
    max_turns = forms.IntegerField(min_value=1, max_value=100, initial=10)
    weight = forms.IntegerField(
        min_value=1, initial=1, help_text="Relative share of participants allocated to it."
    )
    reply_timeout_s = forms.FloatField(
        required=False,
        min_value=1,
        label="Reply timeout (s)",
        help_text="Longest a whole reply may take; empty: the endpoint's timeout.",
    )
    control_instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        initial=Arm._meta.get_field("control_instructions").default,
        help_text="Control arms: what participants are told instead of a chat.",
    )
    blinding_terms = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=LINES_HELP + " Words the model must not say about itself (its name, its maker).",
    )

    SAMPLING = ("temperature", "top_p", "max_tokens")
    # The page groups the fields by the kind of arm they apply to (legend, id, names), so
    # nobody wonders what a system prompt does for a control arm.
    SECTIONS = (
        ("The arm", "arm-common", ("key", "kind", "participant_label", "weight")),
        (
            "LLM arms: the model and the chat",
            "arm-llm",
            (
                "endpoint",
                "system_prompt",
                "temperature",
                "top_p",
                "max_tokens",
                "min_turns",
                "max_turns",
                "reply_timeout_s",
                "blinding_terms",
            ),
        ),
        ("Control arms: instead of a chat", "arm-control", ("control_instructions",)),
    )

    # The rule beside the terms once participants entered (builder_blinding.arm_terms_check).
    TERMS_FIXED_HELP = (
        " Participants have entered this study: terms may be added, or their spelling "
        "corrected, but none removed, so no later participant reads the model's name "
        "where earlier ones were guarded against it."
    )

    def __init__(
        self,
        *args,
        endpoints,
        arm: Arm | None = None,
        locked: bool = False,
        terms_fixed: bool = False,
        **kwargs,
    ):
        if arm is not None:
            initial = {name: getattr(arm, name) for name in self.base_fields if hasattr(arm, name)}
            initial |= {k: arm.sampling_params.get(k) for k in self.SAMPLING}
            initial["endpoint"] = arm.endpoint_id
            initial["blinding_terms"] = "\n".join(arm.blinding_terms)
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.arm = arm
        queryset = endpoints
        if arm is not None and arm.endpoint_id:
            # The arm's own endpoint stays choosable whoever edits it.
            queryset = ModelEndpoint.objects.filter(
                models.Q(pk__in=endpoints.values("pk")) | models.Q(pk=arm.endpoint_id)
            )
        self.fields["endpoint"].queryset = queryset.order_by("name")
        if locked:
            for name in ("key", "kind", "weight"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed: participants were allocated to this arm."
        if terms_fixed:
            self.fields["blinding_terms"].help_text += self.TERMS_FIXED_HELP

    def sections(self) -> list[dict]:
        return [
            {"legend": legend, "id": section_id, "fields": [self[name] for name in names]}
            for legend, section_id, names in self.SECTIONS
        ]

    def clean_blinding_terms(self) -> list[str]:
        return lines_parse(self.cleaned_data["blinding_terms"])

    def clean(self):
        cleaned = super().clean()
        llm_default = Arm._meta.get_field("participant_label").default
        if (
            cleaned.get("kind") == Arm.Kind.CONTROL
            and cleaned.get("participant_label") == llm_default
        ):
            # The field's initial value is the LLM arms' label: a control arm left with it
            # would be named an AI assistant to people who have none.
            self.add_error(
                "participant_label",
                f"A control arm shows participants no assistant: name what they use instead "
                f"(e.g. “Your own sources”), not “{llm_default}”.",
            )
        return cleaned

    def arm_values(self) -> dict:
        data = dict(self.cleaned_data)
        # Other sampling parameters the arm has (seed, stop, …) are kept as they are.
        sampling = dict(self.arm.sampling_params) if self.arm is not None else {}
        for name in self.SAMPLING:
            value = data.pop(name)
            if value is None:
                sampling.pop(name, None)
            else:
                sampling[name] = value
        data["sampling_params"] = sampling
        return data
