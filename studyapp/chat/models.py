"""Conversations between a participant (or a simulated one) and an arm's model."""

from __future__ import annotations

from django.db import models

from studyapp.participation.models import Task
from studyapp.studies.models import Arm, ModelEndpoint


class Conversation(models.Model):
    """One chat per task, with a frozen snapshot of what the model was given.

    The snapshot means later edits to the arm or endpoint never change what the data
    says was used.
    """

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="conversation")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="conversations")
    endpoint = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT)
    base_url = models.CharField(max_length=300)
    model = models.CharField(max_length=200)
    is_scripted = models.BooleanField(default=False)
    is_test_model = models.BooleanField(default=False)
    system_prompt = models.TextField(blank=True)
    sampling_params = models.JSONField(default=dict)
    min_turns = models.PositiveSmallIntegerField()
    max_turns = models.PositiveSmallIntegerField()
    timeout_s = models.FloatField()
    # The blinding guard, frozen with the rest: the arm's terms, and the words shown
    # instead (None: the study only records them).
    blinding_terms = models.JSONField(default=list, blank=True)
    blinding_replacement = models.CharField(max_length=60, null=True, blank=True)  # noqa: DJ001 (NULL: flag only, unlike "")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"conversation {self.pk} ({self.task})"


class MessageQuerySet(models.QuerySet["Message"]):
    def in_order(self) -> MessageQuerySet:
        return self.order_by("sequence")


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "Participant"
        ASSISTANT = "assistant", "Model"

    class Status(models.TextChoices):
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        INTERRUPTED = "interrupted", "Interrupted"
        ERROR = "error", "Error"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sequence = models.PositiveIntegerField()
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    # Chosen by the browser; makes a resent message idempotent.
    client_message_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (NULL for model messages keeps the unique constraint simple)
    # For an assistant message: the participant message it answers.
    reply_to = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    time_to_first_token_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=30, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A streaming reply's writer saves the text so far and renews this every
    # CHAT_REPLY_SAVE_S while it lives; a reply whose writer stopped renewing it (the web
    # process died) is stale after CHAT_STALE_REPLY_S and is marked interrupted, keeping
    # the text the participant had already read.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # A reply's blinding terms ([{"term", "start", "end"}] in its text), found when it ends.
    blinding_hits = models.JSONField(default=list, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["conversation", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "sequence"], name="message_unique_sequence"
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_message_id"],
                condition=models.Q(client_message_id__isnull=False),
                name="message_unique_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} message {self.sequence} of conversation {self.conversation_id}"
