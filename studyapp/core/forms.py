"""Form helpers the apps share."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, QueryDict


def add_validation_error(form: Form, exc: ValidationError) -> None:
    """A service's (or a model's) ValidationError on the form: each message beside its
    field where the form has that field, the rest at the top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def page_posted(request: HttpRequest, page_digest: str) -> tuple[QueryDict | None, str]:
    """A POST of a page that carries the digest of what it was made from in its `source`
    field (the translation pages: studies.translation_sources.page_digest), with that
    field made the page's digest now, and the digest the page was made from; None and ""
    for a GET. The form comes back made from the source as it is now, whatever happens;
    the service refuses a save made from another. A POST without a digest (a page from
    before the digest, a hand-made request) counts as made from an unknown source, so it
    is refused the same way rather than saved unchecked."""
    if request.method != "POST":
        return None, ""
    data = request.POST.copy()
    made_from = data.get("source") or "unknown"
    data["source"] = page_digest
    return data, made_from
