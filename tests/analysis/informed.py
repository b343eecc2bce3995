"""The scored study (tests.analysis.scored) with key facts on its scenarios, for the
information-transfer tests."""

from __future__ import annotations

import pytest

BELLY_FACTS = [
    {"key": "right-side", "text": "The pain is low on the right.", "patterns": ["right"]},
    {"key": "fever", "text": "She has a fever.", "patterns": ["fever", "temperature"]},
]
BACK_FACTS = [{"key": "lifting", "text": "He lifted a heavy box.", "patterns": ["lift"]}]


@pytest.fixture
def informed(scored):
    """The scored study's scenarios with key facts. Its LLM arm's three chats:
    p1 belly "My belly hurts low on the right." tells right-side (message 1), not fever:
    1/2; p1 back "My back hurts." tells nothing: 0/1; p2 belly "Could it be ovarian
    torsion?" tells nothing: 0/2. Mean share 1/6. The model names a gold condition in
    two of them (appendicitis, muscle strain); the answers name one in two (p1 belly,
    p2 belly)."""
    for scenario, facts in ((scored.belly, BELLY_FACTS), (scored.back, BACK_FACTS)):
        scenario.key_facts = facts
        scenario.save(update_fields=["key_facts"])
    return scored
