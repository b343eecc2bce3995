"""Model endpoints made and changed by investigators on the endpoints page: the only
writers of ModelEndpoint outside the admin, design-file imports and the command line."""

from __future__ import annotations

import os

from django.conf import settings
from django.db import models, transaction

from studyapp.studies.models import ModelEndpoint

# Where an evaluation run's configuration names an endpoint (by name: evaluations.forms).
EVALUATION_CONFIG_ENDPOINT_KEYS = ("patient_endpoint", "grader_endpoint")


class EndpointInUseError(Exception):
    """Something refers to the endpoint: deleting it would lose what the data says was
    used (or break a run), so it stays."""

    def __init__(self, uses: list[str]) -> None:
        self.uses = uses
        super().__init__(
            "This endpoint cannot be deleted: it is used by "
            + ", ".join(uses)
            + ", and the data must keep saying which model answered. "
            "Point the arms at another endpoint first; an endpoint with conversations or "
            "evaluation runs stays for good (change its settings instead)."
        )


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


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def endpoint_uses(endpoint: ModelEndpoint) -> list[str]:
    """What refers to the endpoint, in words (every study's, not only those the user may
    see: counts only, no names). Empty: nothing, it may be deleted."""
    from studyapp.chat.models import Conversation  # those apps sit above this one
    from studyapp.evaluations.models import EvaluationRun

    named = models.Q(endpoint=endpoint)
    for key in EVALUATION_CONFIG_ENDPOINT_KEYS:
        named |= models.Q(**{f"config__{key}": endpoint.name})
    counts = [
        (endpoint.arms.count(), "arm", "arms"),
        (Conversation.objects.filter(endpoint=endpoint).count(), "conversation", "conversations"),
        (EvaluationRun.objects.filter(named).count(), "evaluation run", "evaluation runs"),
    ]
    return [_count(n, one, many) for n, one, many in counts if n]


@transaction.atomic
def endpoint_delete(*, endpoint_id: int) -> None:
    """Delete an endpoint nothing refers to; EndpointInUseError otherwise. Under the
    endpoint's row lock, and the foreign keys are PROTECT, so an arm or conversation
    pointed at it meanwhile fails the deletion rather than losing its endpoint. Its
    history (audit: HistoricalModelEndpoint) keeps every version, and the deletion is an
    entry of the global audit chain, with who."""
    endpoint = ModelEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if uses := endpoint_uses(endpoint):
        raise EndpointInUseError(uses)
    try:
        endpoint.delete()
    except models.ProtectedError as exc:  # a reference added since the count
        raise EndpointInUseError([f"{len(exc.protected_objects)} other rows"]) from exc


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
