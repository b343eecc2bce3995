"""The investigator's transcript shows model replies as the participant saw them: sanitized
markdown (studyapp.chat.rendering); participants' messages stay plain text."""

from __future__ import annotations

from django.urls import reverse

from studyapp.participation.models import Participant
from tests.analysis.scored import scored_answer
from tests.factories import make_participant

REPLY = (
    "**Go to A&E.**\n\n| Sign | Do |\n|---|---|\n| pain | call |\n\n- one\n- two\n\n"
    "[NHS](https://www.nhs.uk/) [bad](javascript:alert(1)) <img src=x onerror=alert(1)>"
)


def test_model_replies_render_as_sanitized_markdown(client, alice, scored):
    p = make_participant(scored.study, arm=scored.llm, status=Participant.Status.COMPLETED)
    scored_answer(
        p, scored.belly, 1, "ae", "appendicitis", chat=[("user", "**mine**"), ("assistant", REPLY)]
    )
    client.force_login(alice)
    task = p.tasks.get(position=1)
    html = client.get(reverse("analysis:transcript", args=["beta", task.pk])).content.decode()
    assert "<strong>Go to A&amp;E.</strong>" in html
    assert "<th>Sign</th>" in html and "<li>one</li>" in html
    assert (
        '<a href="https://www.nhs.uk/" target="_blank" rel="noopener noreferrer nofollow">NHS</a>'
        in html
    )
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")
    assert "<img" not in html
    assert '<div class="turn-text">**mine**</div>' in html
