"""Where participants enter a study: the one link every part of the product prints."""

from __future__ import annotations

from django.urls import reverse


def participant_entry_path(slug: str) -> str:
    # Resolved by URL name, so studies does not import participation (it sits above us);
    # Prolific appends its parameters (PROLIFIC_PID, STUDY_ID, SESSION_ID) to this path.
    return reverse("participation:entry", args=[slug])
