"""The stream's events, read from the server-sent event lines without the SDK's typed
chunk objects (chat.llm.openai_compatible.sse_data / chunk_events)."""

from __future__ import annotations

import pytest

from studyapp.chat.llm import LLMError, StreamEvent, Usage
from studyapp.chat.llm.openai_compatible import DONE, chunk_events, sse_data


def test_only_data_lines_carry_chunks():
    assert sse_data("") is None
    assert sse_data(": keep-alive") is None
    assert sse_data("event: message") is None
    assert sse_data("data: [DONE]") is DONE
    assert sse_data('data: {"choices": []}') == {"choices": []}
    assert sse_data('data:{"choices": []}') == {"choices": []}


@pytest.mark.parametrize("line", ["data: {not json", "data: [1, 2]", 'data: "text"'])
def test_malformed_data_is_a_server_error(line):
    with pytest.raises(LLMError) as exc:
        sse_data(line)
    assert exc.value.code == "server_error"


def test_a_chunk_gives_its_text_its_finish_reason_and_the_usage():
    role = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    assert chunk_events(role) == []
    text = {"choices": [{"delta": {"content": " sp"}, "finish_reason": None}]}
    assert chunk_events(text) == [StreamEvent(delta=" sp")]
    last = {"choices": [{"delta": {}, "finish_reason": "length"}], "usage": None}
    assert chunk_events(last) == [StreamEvent(finish_reason="length")]
    usage = {"choices": [], "usage": {"prompt_tokens": 31, "completion_tokens": 5}}
    assert chunk_events(usage) == [StreamEvent(usage=Usage(31, 5))]


def test_an_error_object_in_the_stream_is_a_server_error():
    with pytest.raises(LLMError) as exc:
        chunk_events({"error": {"message": "model overloaded", "code": 503}})
    assert (exc.value.code, exc.value.detail) == ("server_error", "model overloaded")
