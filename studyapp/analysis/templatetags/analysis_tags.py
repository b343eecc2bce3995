"""Number formatting for the analysis pages (proportions, intervals, p-values)."""

from __future__ import annotations

from django import template

register = template.Library()

DASH = "\u2014"


def _missing(value) -> bool:
    """No number to show: None, or the empty string a template gives for a field the row
    lacks (a table of a study with participants but no answers yet)."""
    return value is None or value == ""


@register.filter
def pct(p) -> str:
    """A proportion (statistics.Proportion) as "45.3%"."""
    if p is None or getattr(p, "value", None) is None:
        return DASH
    return f"{100 * p.value:.1f}%"


@register.filter
def ci(p) -> str:
    """Its 95% interval as "38.1-52.6"."""
    if p is None or getattr(p, "ci_low", None) is None:
        return ""
    return f"{100 * p.ci_low:.1f}\u2013{100 * p.ci_high:.1f}"


@register.filter
def pvalue(value) -> str:
    if _missing(value):
        return DASH
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}"


@register.filter
def ratio(value) -> str:
    if _missing(value):
        return DASH
    return f"{value:.2f}"


@register.filter
def signed(value) -> str:
    if _missing(value):
        return DASH
    return f"+{value}" if value > 0 else str(value)


@register.filter
def ratio3(value) -> str:
    if _missing(value):
        return DASH
    return f"{value:.3f}"
