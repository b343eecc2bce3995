"""The words of participation.states on the investigator pages: a term's label and
definition for a table heading, and the legend printed under a table of counts."""

from __future__ import annotations

from django import template

from studyapp.participation.states import (
    MILESTONE_TERMS,
    MILESTONES,
    STATE_TERMS,
    STATES,
    Term,
)

register = template.Library()


@register.simple_tag
def state_term(code: str) -> Term:
    """A state's term (participation.states.State), for `{% state_term "opened" as t %}`."""
    return STATE_TERMS[code]


@register.simple_tag
def milestone_term(code: str) -> Term:
    """A milestone's term (participation.states.Milestone)."""
    return MILESTONE_TERMS[code]


@register.simple_tag
def state_terms() -> tuple[Term, ...]:
    return STATES


@register.inclusion_tag("analysis/_states_legend.html")
def states_legend(*, milestones: bool = False, states: bool = True, codes: str = "") -> dict:
    """The definitions of the words a table used: every state, the milestones, or only
    the `codes` given (comma-separated)."""
    wanted = {code.strip() for code in codes.split(",") if code.strip()}
    terms = [*(STATES if states else ()), *(MILESTONES if milestones else ())]
    if wanted:
        terms = [term for term in terms if term.code in wanted]
    return {"terms": terms}
