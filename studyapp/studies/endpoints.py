"""Model endpoints made and changed by investigators on the endpoints page: the only
writers of ModelEndpoint outside the admin, design-file imports and the command line."""

from __future__ import annotations

import os

from django.conf import settings

from studyapp.studies.models import ModelEndpoint


def endpoint_create(*, owner, **fields) -> ModelEndpoint:
    """A new endpoint owned by `owner`, who alone (with superusers) may change it."""
    endpoint = ModelEndpoint(owner=owner, **fields)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def endpoint_update(*, endpoint: ModelEndpoint, **fields) -> ModelEndpoint:
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def endpoint_key_state(endpoint: ModelEndpoint) -> str:
    """Whether the key's variable is set in this server's environment, in words; never
    its value. "none": the endpoint names no variable (a server without authentication)."""
    name = endpoint.api_key_env
    if not name:
        return "none"
    if not (
        name.startswith(settings.LLM_API_KEY_ENV_PREFIX)
        and len(name) > len(settings.LLM_API_KEY_ENV_PREFIX)
    ):
        return "not a model key variable: no key is sent"
    return "set" if os.environ.get(name) else "not set"
