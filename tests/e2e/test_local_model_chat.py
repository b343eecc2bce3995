"""The demo as `make run MODEL=local` serves it: a participant in the browser chats with a
real inference engine (llama.cpp + SmolLM2-135M), labelled as a small model for testing;
the reply streams in and is stored as the participant saw it."""

from __future__ import annotations

import pytest

from studyapp.chat.models import Message
from studyapp.studies.demo import LOCAL_ENDPOINT_NAME, demo_seed
from studyapp.studies.models import ModelEndpoint
from tests.e2e.test_full_flow import enter_until_arm

pytestmark = pytest.mark.e2e


@pytest.mark.django_db(transaction=True)
def test_a_participant_chats_with_the_local_model_in_the_browser(
    live_asgi, browser, scripted, engine
):
    result = demo_seed(
        scripted_model_url=scripted.base_url,
        investigator_password="a-password-for-the-e2e-test",
        password_is_explicit=True,
        model="local",
        local_model_url=engine.base_url,
        local_model_name=engine.model,
    )
    # An external engine (deploy/vllm/smoke.sh) may need its key.
    ModelEndpoint.objects.filter(name=LOCAL_ENDPOINT_NAME).update(api_key_env=engine.api_key_env)
    arm = result.study.arms.select_related("endpoint").get(key="assistant")
    assert arm.endpoint.name == LOCAL_ENDPOINT_NAME and arm.endpoint.is_test_model

    context, page = enter_until_arm(browser, live_asgi.url, "llm")
    try:
        badge = page.locator(".scripted-badge").inner_text()
        assert badge == "Small local model — for testing, not medical advice"
        page.wait_for_selector("[data-chat-input]:not([disabled])")
        page.fill("[data-chat-input]", "I have a sore throat and a mild fever. What should I do?")
        page.locator("[data-chat-send]").click()
        page.wait_for_function(
            """() => document.querySelectorAll('.msg-assistant').length === 1
                 && !document.querySelector('.msg-streaming')""",
            timeout=120_000,
        )
        shown = page.locator(".msg-assistant").inner_text().strip()
    finally:
        context.close()

    reply = Message.objects.get(role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.COMPLETE, reply.error
    assert reply.text.strip() and shown
    assert reply.finish_reason in {"stop", "length"}
    # llama.cpp's server streams no usage (deploy/ENGINES.md): unknown, never made up.
    assert reply.completion_tokens is None or reply.completion_tokens > 0
    assert reply.time_to_first_token_ms and reply.time_to_first_token_ms > 0
    assert reply.conversation.is_test_model
    assert reply.conversation.model == engine.model
