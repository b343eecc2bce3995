"""What one request gets: directives, tokens and the plan of the reply (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from studyapp.devtools.scripted_server.config import ScriptedConfig
from studyapp.devtools.scripted_server.personas import PERSONAS, Exchange

_DIRECTIVE = re.compile(r"#(fail|cut|slow|ttft|long):(\d+(?:\.\d+)?)")
_TOKEN = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class Directives:
    fail: int | None = None
    cut: int | None = None
    slow: float | None = None
    ttft: float | None = None
    long: int | None = None


def parse_directives(text: str) -> tuple[Directives, str]:
    """The directives in a message, and the message without them."""
    found: dict[str, float] = {}
    for name, value in _DIRECTIVE.findall(text):
        found[name] = float(value)
    fail = int(found["fail"]) if "fail" in found else None
    if fail is not None and not 400 <= fail <= 599:
        fail = None
    directives = Directives(
        fail=fail,
        cut=int(found["cut"]) if "cut" in found else None,
        slow=min(found["slow"], 10.0) if "slow" in found else None,
        ttft=min(found["ttft"], 60.0) if "ttft" in found else None,
        long=max(1, min(int(found["long"]), 20000)) if "long" in found else None,
    )
    cleaned = " ".join(_DIRECTIVE.sub(" ", text).split())
    return directives, cleaned


def tokenize(text: str) -> list[str]:
    """Words with their trailing whitespace; joining them gives the text back."""
    tokens = _TOKEN.findall(text)
    leading = text[: len(text) - len(text.lstrip())]
    if leading and tokens:
        tokens[0] = leading + tokens[0]
    return tokens


def message_text(content: Any) -> str:
    """The text of a message's content (a string, or a list of OpenAI content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, dict)]
    return " ".join(p for p in parts if isinstance(p, str))


def keyed_reply(text: str, config: ScriptedConfig) -> str | None:
    for substring, reply in config.keyed_replies:
        if substring and substring in text:
            return reply
    return None


@dataclass(frozen=True)
class Plan:
    """What one request will produce."""

    tokens: list[str]
    finish_reason: str
    prompt_tokens: int
    ttft_s: float
    token_delay_s: float
    fail_status: int | None
    cut_after: int | None


def plan_reply(messages: list[dict], config: ScriptedConfig, max_tokens: int | None) -> Plan:
    """Pure: the reply to a validated list of messages under a config."""
    user_texts = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    last_user = user_texts[-1] if user_texts else ""
    directives, cleaned = parse_directives(last_user)
    keyed = keyed_reply(last_user, config)
    if keyed is not None:
        text = keyed
    else:
        system = " ".join(
            message_text(m.get("content")) for m in messages if m.get("role") == "system"
        )
        exchange = Exchange(system=system, user_texts=user_texts, cleaned=cleaned)
        text = PERSONAS[config.mode](exchange, config)
    tokens = tokenize(text)
    if directives.long is not None:
        tokens = [tokens[i % len(tokens)] for i in range(directives.long)]
        tokens[-1] = tokens[-1].rstrip() or tokens[-1]
    finish_reason = "stop"
    if max_tokens is not None and len(tokens) > max_tokens:
        tokens = tokens[:max_tokens]
        finish_reason = "length"
    prompt_tokens = sum(len(message_text(m.get("content")).split()) for m in messages)
    return Plan(
        tokens=tokens,
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        ttft_s=directives.ttft if directives.ttft is not None else config.ttft_s,
        token_delay_s=directives.slow if directives.slow is not None else config.token_delay_s,
        fail_status=directives.fail if directives.fail is not None else config.fail_status,
        cut_after=directives.cut if directives.cut is not None else config.fail_after_tokens,
    )
