"""Investigator pages for study design files (studies.design_files): download a study's
design, and create a new study from one."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from studyapp.accounts.permissions import endpoints_visible_to, study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.studies import roles
from studyapp.studies.design_files import (
    DesignFileError,
    design_dumps,
    design_export,
    design_import,
    design_loads,
)
from studyapp.studies.models import Study

# A design with a few dozen scenarios and two languages is ~100 KB; this leaves room
# without reading an arbitrary upload into memory.
MAX_DESIGN_BYTES = 5 * 1024 * 1024


class DesignImportForm(forms.Form):
    design = forms.FileField(
        label="Design file",
        help_text="A .json file written by “Download the design” or export_design.",
    )
    slug = forms.SlugField(
        label="Slug of the new study", max_length=50, help_text="Letters, digits, - and _."
    )
    title = forms.CharField(
        label="Title", max_length=200, required=False, help_text="Empty: the file's title."
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Study.objects.filter(slug=slug).exists():
            raise forms.ValidationError("A study with this slug exists: choose another.")
        return slug

    def clean_design(self):
        upload = self.cleaned_data["design"]
        if upload.size > MAX_DESIGN_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_DESIGN_BYTES // (1024 * 1024)} MB."
            )
        try:
            return design_loads(upload.read())
        except DesignFileError as exc:
            raise forms.ValidationError(exc.errors) from exc

    def import_for(self, user) -> Study | None:
        """The new draft study, `user` its owner; None with the file's problems added to
        the form. Call after is_valid(). Endpoints are matched only among those the user
        may see, and only a superuser's file may create new ones (an endpoint's key is sent
        to its base URL). The upload page and the API's POST /studies both come here."""
        try:
            return design_import(
                self.cleaned_data["design"],
                slug=self.cleaned_data["slug"],
                title=self.cleaned_data["title"] or None,
                user=user,
                endpoints=endpoints_visible_to(user),
                may_create_endpoints=user.is_superuser,
            )
        except DesignFileError as exc:
            for error in exc.errors:
                self.add_error("design", error)
            return None


@require_GET
@login_required
def design_download(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.VIEW_DESIGN)
    response = HttpResponse(
        design_dumps(design_export(study)), content_type="application/json; charset=utf-8"
    )
    # A slug is letters, digits, - and _: safe in the header as it is.
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-design.json"'
    return response


@require_http_methods(["GET", "POST"])
@login_required
def design_upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new draft study from a design file; the uploader becomes its investigator.

    Endpoints are matched only among those the uploader's studies use, and only a
    superuser's file may create new ones: an endpoint's key is sent to its base URL.
    """
    form = DesignImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        study = form.import_for(request.user)
        if study is not None:
            messages.success(
                request, f"Study {study.slug} created as a draft from the design file."
            )
            return redirect("analysis:study_detail", slug=study.slug)
    return render(
        request,
        "studies/design_upload.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )
