"""The stream's events, read from the server-sent event lines without the SDK's typed
chunk objects (chat.llm.openai_compatible.SSELines / sse_data / chunk_events)."""

from __future__ import annotations

import pytest

from studyapp.chat.llm import LLMError, StreamEvent, Usage
from studyapp.chat.llm.openai_compatible import DONE, SSELines, chunk_events, sse_data


def test_only_data_lines_carry_chunks():
    assert sse_data(b"") is None
    assert sse_data(b": keep-alive") is None
    assert sse_data(b"event: message") is None
    assert sse_data(b"data: [DONE]") is DONE
    assert sse_data(b'data: {"choices": []}') == {"choices": []}
    assert sse_data(b'data:{"choices": []}') == {"choices": []}
    assert sse_data('data: {"delta": "é"}'.encode()) == {"delta": "é"}


def lines_of(chunks: list[bytes]) -> list[bytes]:
    splitter = SSELines()
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.close()


def test_lines_are_whole_however_the_chunks_cut_them():
    stream = b'data: {"a": 1}\n\ndata: {"b": "\xc3\xa9"}\r\n\r\n: ping\rdata: [DONE]\n\n'
    expected = [b'data: {"a": 1}', b"", b'data: {"b": "\xc3\xa9"}', b"", b": ping"]
    expected += [b"data: [DONE]", b""]
    assert lines_of([stream]) == expected
    # Cut at every byte (inside a line, inside a CRLF, inside a UTF-8 character): the
    # same data lines in the same order; a CRLF cut in two adds only a blank line.
    for cut in range(1, len(stream)):
        got = lines_of([stream[:cut], stream[cut:]])
        assert [line for line in got if line] == [line for line in expected if line], cut
    one_byte_each = lines_of([bytes([b]) for b in stream])
    assert [line for line in one_byte_each if line] == [line for line in expected if line]
    assert len(one_byte_each) == len(expected) + stream.count(b"\r\n")  # each CRLF cut


def test_a_last_line_without_its_ending_still_counts():
    assert lines_of([b"data: [DO", b"NE]"]) == [b"data: [DONE]"]
    assert lines_of([]) == []


@pytest.mark.parametrize("line", [b"data: {not json", b"data: [1, 2]", b'data: "text"'])
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
