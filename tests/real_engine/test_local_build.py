"""The llama.cpp build runs on this CPU: one real completion on a prompt of a few dozen
tokens, in a child process (a build for instructions the machine cannot execute dies with
SIGILL on the first long prompt, while a one-token prompt still works)."""

from __future__ import annotations

from studyapp.devtools.local_model import inference_check, unavailable_reason
from tests.conftest import require


def test_the_local_model_answers_a_real_prompt_on_this_cpu():
    reason = unavailable_reason()
    require(reason is None, f"the real-engine tests need the local model: {reason}")
    assert inference_check() is None
