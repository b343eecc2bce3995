"""Form helpers the apps share."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.forms import Form


def add_validation_error(form: Form, exc: ValidationError) -> None:
    """A service's (or a model's) ValidationError on the form: each message beside its
    field where the form has that field, the rest at the top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)
