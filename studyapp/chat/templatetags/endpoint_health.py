"""The study page's "Model endpoints" card (chat.health), as a tag the page includes: the
page's own view stays as it is, and the card refreshes with the figures it sits beside."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from studyapp.chat.health import (
    ERROR_RATE_DEGRADED,
    FAILED_IN_A_ROW,
    MIN_REPLIES_FOR_RATE,
    WINDOW_MINUTES,
    endpoints_health,
    study_endpoint_health,
)
from studyapp.studies.models import Study

register = template.Library()


@register.inclusion_tag("chat/_endpoint_health.html")
def endpoint_health_card(study: Study, arms: Iterable | None = None) -> dict:
    """`arms`: the page's arm rows (analysis's ArmInfo: `kind`, `endpoint` name), when it
    has them, which spares the query for the endpoints' names."""
    names = None if arms is None else {a.endpoint for a in arms if a.kind == "llm" and a.endpoint}
    return {
        "endpoints": study_endpoint_health(study=study, endpoint_names=names),
        "window_minutes": WINDOW_MINUTES,
        "failed_in_a_row": FAILED_IN_A_ROW,
        "min_replies": MIN_REPLIES_FOR_RATE,
        "error_rate_pct": round(ERROR_RATE_DEGRADED * 100),
    }


@register.simple_tag
def endpoints_with_health(rows: Iterable[dict]) -> list[dict]:
    """The endpoints page's rows (dicts with an "endpoint"), each with "health" added: its
    EndpointHealth, or None without replies in the window. One query; a tag because the
    page lives in studies, which does not import chat."""
    rows = list(rows)
    health = endpoints_health(endpoint_ids=[row["endpoint"].pk for row in rows])
    return [{**row, "health": health.get(row["endpoint"].pk)} for row in rows]
