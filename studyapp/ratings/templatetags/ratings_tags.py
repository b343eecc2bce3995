"""Numbers of the agreement pages: a value with its 95% CI, or a dash when undefined."""

from __future__ import annotations

from django import template

from studyapp.ratings.agreement import Estimate

register = template.Library()


def _number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@register.filter
def estimate(value: Estimate | None) -> str:
    """ "0.62 (0.31 to 0.88)"; "0.62" without a CI; "—" when undefined."""
    if value is None or value.value is None:
        return "—"
    if value.low is None or value.high is None:
        return _number(value.value)
    return f"{_number(value.value)} ({_number(value.low)} to {_number(value.high)})"


@register.filter
def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
