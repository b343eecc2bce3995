"""Splitting a participant's free-text conditions into a list (pure)."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\n\r,;]+")
# List markers people type: "- x", "* x", "• x", "1. x", "2) x".
_MARKER = re.compile(r"^\s*(?:[-*\u2022]+|\d{1,2}[.)])\s*")


def parse_conditions(text: str) -> list[str]:
    """One entry per line, comma or semicolon, list markers and blanks removed."""
    items = []
    for part in _SEPARATORS.split(text):
        item = _MARKER.sub("", part).strip()
        if item:
            items.append(item)
    return items
