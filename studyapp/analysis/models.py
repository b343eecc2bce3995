"""Derived data the analysis pages read: never a source of truth, always re-computable."""

from __future__ import annotations

from django.db import models

from studyapp.chat.models import Conversation


class ConversationScore(models.Model):
    """Which gold conditions came up in one conversation, by whom (scoring.transcripts).

    Scoring a transcript runs the fuzzy matcher over every message, far too slow to do per
    dashboard request for a whole study (tens of milliseconds a message), so it is done
    once per answered conversation and kept here; `scorer_version` says which rules made
    it, and rows of an older version are scored again (analysis.services).
    """

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="analysis_score"
    )
    # Gold terms named, in gold order.
    model_named = models.JSONField(default=list)
    participant_named = models.JSONField(default=list)
    # The same as booleans, so that SQL can count them.
    model_named_any = models.BooleanField(default=False)
    participant_named_any = models.BooleanField(default=False)
    # Position (from 0) of the first model message naming a gold term; None: never.
    first_model_naming_turn = models.PositiveSmallIntegerField(null=True, blank=True)
    n_messages = models.PositiveIntegerField(default=0)
    scorer_version = models.CharField(max_length=40)
    scored_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"score of conversation {self.conversation_id}"
