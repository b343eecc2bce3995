"""The start form of the evaluations page."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import ClassVar

from django import forms
from django.conf import settings

from studyapp.accounts.permissions import endpoints_visible_to
from studyapp.evaluations.kinds import KINDS, STARTABLE_KINDS
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.science.prompts import DEFAULT_MODEL_ALONE_PRESET, MODEL_ALONE_PARTS
from studyapp.evaluations.selectors import model_alone_prompts
from studyapp.evaluations.services import StartRequest, run_name_taken
from studyapp.studies.models import Arm


def shared_data_dir() -> Path:
    default = Path(settings.BASE_DIR).parent / "shared" / "data"
    return Path(os.environ.get("STUDYAPP_SHARED_DATA") or default)


def shared_item_files() -> list[Path]:
    """MCQ files offered without an upload (the shared data folder, when present)."""
    folder = shared_data_dir() / "medqa"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


class StartRunForm(forms.Form):
    # Which kinds each field serves (the page shows a field only for them; without
    # JavaScript every field shows, and the kind ignores what it does not use). A field
    # not listed serves every kind.
    FIELD_KINDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "arm": ("model_alone", "simulated", "mcq", "robustness"),
        "asked": ("model_alone",),
        "prompt_template": ("model_alone",),
        "items_file": ("mcq", "robustness"),
        "items_upload": ("mcq", "robustness"),
        "templates_upload": ("robustness", "rubric"),
        "patient_endpoint": ("simulated",),
        "grader_endpoint": ("rubric",),
        "grade_humans": ("rubric",),
        "human_arm": ("rubric",),
        "source_runs": ("rubric",),
    }

    kind = forms.ChoiceField(choices=[(k, KINDS[k].label) for k in STARTABLE_KINDS])
    arm = forms.ChoiceField(label="Arm (model and sampling)", required=False)
    n = forms.IntegerField(
        label="Repetitions per scenario, or number of questions",
        min_value=1,
        max_value=100000,
        required=False,
    )
    asked = forms.ChoiceField(
        choices=[("together", "Questions together"), ("separate", "Questions separately")],
        initial="together",
        # Not sent when the page hides it (another kind): together.
        required=False,
    )
    prompt_template = forms.ChoiceField(label="Model-alone prompt", required=False)
    items_file = forms.ChoiceField(label="MCQ items", required=False)
    items_upload = forms.FileField(label="…or upload JSONL", required=False)
    templates_upload = forms.FileField(
        label="Robustness templates (JSON, optional)", required=False
    )
    patient_endpoint = forms.ChoiceField(label="Simulated patient model", required=False)
    grader_endpoint = forms.ChoiceField(label="Rubric grader model", required=False)
    grade_humans = forms.BooleanField(
        label="Grade participants' chats and answers", required=False, initial=True
    )
    human_arm = forms.ChoiceField(label="…of the arm", required=False)
    source_runs = forms.MultipleChoiceField(
        label="…and grade these runs' outputs",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    name = forms.SlugField(
        label="Run name (optional)",
        max_length=100,
        required=False,
        help_text=(
            "Letters, digits and hyphens, unique in the study. Left empty, the run is named "
            "by kind, arm and day: mcq-llm-2026-11-28-1."
        ),
    )

    def __init__(self, *args, study, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.study = study
        self.fields["arm"].choices = [
            (arm.key, f"{arm.key} ({arm.endpoint.model if arm.endpoint else '—'})")
            for arm in Arm.objects.filter(study=study, kind=Arm.Kind.LLM).select_related(
                "endpoint"
            )
        ]
        # The study's model-alone templates, HELPMed's framing (or the study's edit of it)
        # first and chosen unless another is.
        prompts = model_alone_prompts(study=study)
        self.fields["prompt_template"].choices = [
            (
                key,
                choice["label"]
                + (" (edited for this study)" if choice["source"] == "study" else ""),
            )
            for key, choice in prompts.items()
        ]
        self.fields["prompt_template"].initial = DEFAULT_MODEL_ALONE_PRESET
        self.fields["items_file"].choices = [("", "—")] + [
            (path.name, path.name) for path in shared_item_files()
        ]
        # Only endpoints this investigator may use (another team's would spend its quota).
        endpoints = [
            (name, name)
            for name in endpoints_visible_to(user).order_by("name").values_list("name", flat=True)
        ]
        self.fields["patient_endpoint"].choices = [("", "The arm's own model"), *endpoints]
        self.fields["grader_endpoint"].choices = [("", "—"), *endpoints]
        self.fields["human_arm"].choices = [("", "every arm")] + [
            (key, key) for key in study.arms.order_by("key").values_list("key", flat=True)
        ]
        # Finished runs whose outputs a rubric run can grade.
        self.fields["source_runs"].choices = [
            (key, f"{key} ({EvaluationRun.Kind(kind).label.lower()})")
            for key, kind in EvaluationRun.objects.filter(
                study=study,
                kind__in=[EvaluationRun.Kind.MODEL_ALONE, EvaluationRun.Kind.SIMULATED],
                status__in=[EvaluationRun.Status.SUCCEEDED, EvaluationRun.Status.FAILED],
            )
            .order_by("-created_at")
            .values_list("key", "kind")
        ]

    def _save_upload(self, upload, suffix: str) -> Path:
        data = upload.read()
        folder = Path(settings.RUN_DIR) / "evaluation-inputs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
        path.write_bytes(data)
        return path

    def fields_with_kinds(self):
        """(bound field, the space-separated kinds it serves or "") for the template."""
        return [(field, " ".join(self.FIELD_KINDS.get(field.name, ()))) for field in self]

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        items_path = None
        if data.get("items_upload"):
            items_path = self._save_upload(data["items_upload"], ".jsonl")
        elif data.get("items_file"):
            matches = [p for p in shared_item_files() if p.name == data["items_file"]]
            items_path = matches[0] if matches else None
        if kind in KINDS and KINDS[kind].needs_questions and items_path is None:
            self.add_error("items_file", "Choose or upload a JSONL file of questions.")
        if kind in KINDS and KINDS[kind].uses_arm and not data.get("arm"):
            self.add_error("arm", "Choose the arm whose model to evaluate.")
        templates_path = None
        if data.get("templates_upload"):
            templates_path = self._save_upload(data["templates_upload"], ".json")
            problem = KINDS[kind].templates_problem(templates_path) if kind in KINDS else None
            if problem:
                self.add_error("templates_upload", problem)
        if data.get("name") and run_name_taken(self.study, data["name"]):
            self.add_error("name", "This study already has a run with this name.")
        data["items_path"] = items_path
        data["templates_path"] = templates_path
        return data

    def start_request(self) -> StartRequest:
        data = self.cleaned_data
        return StartRequest(
            kind=data["kind"],
            arm_key=data["arm"],
            items_path=data["items_path"],
            n=data.get("n"),
            asked=data.get("asked") or "together",
            templates_path=data["templates_path"],
            prompt_template=data.get("prompt_template") or None,
            patient_endpoint=data.get("patient_endpoint") or None,
            grader_endpoint=data.get("grader_endpoint") or None,
            humans=bool(data.get("grade_humans")),
            human_arm=data.get("human_arm") or None,
            source_runs=tuple(data.get("source_runs") or ()),
            name=data.get("name") or None,
        )


class ModelAlonePromptForm(forms.Form):
    """A study's model-alone prompt templates under a key (the service validates them)."""

    key = forms.SlugField(
        max_length=50,
        help_text="helpmed or third_person replaces that preset for this study; "
        "another key adds a template.",
    )
    label = forms.CharField(max_length=200)
    preamble = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        strip=False,
        help_text="Plain text placed at {preamble}: how the model should read the scenario.",
    )
    together = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 7}),
        strip=False,
        help_text="Both questions at once. Needs {scenario}, {disposition_question}, "
        "{conditions_question}, {options} (and {preamble} when the preamble is set).",
    )
    disposition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        strip=False,
        help_text="Asked separately: needs {scenario}, {disposition_question}, {options}.",
    )
    conditions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        strip=False,
        help_text="Asked separately: needs {scenario}, {conditions_question}.",
    )

    def texts(self) -> dict[str, str]:
        # Browsers send a textarea's lines as CRLF; the model gets plain newlines.
        return {part: self.cleaned_data[part].replace("\r\n", "\n") for part in MODEL_ALONE_PARTS}
