"""The transcript page's key facts, message by message (analysis.information)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def facts_at(facts, sequence):
    """What the participant message at `sequence` told (a TurnFacts), or None."""
    if facts is None:
        return None
    return facts.by_sequence.get(sequence)
