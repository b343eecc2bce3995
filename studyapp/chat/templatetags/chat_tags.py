from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils.safestring import SafeString

from studyapp.chat.rendering import markdown_policy, render_markdown

register = template.Library()


@register.simple_tag
def chat_max_chars() -> int:
    """The longest participant message, for the widget's counter and maxlength."""
    return settings.CHAT_MAX_MESSAGE_CHARS


@register.simple_tag
def chat_markdown_policy() -> dict[str, Any]:
    """What the browser's renderer may keep (the server's allow-list), for json_script."""
    return markdown_policy()


@register.filter(is_safe=True)
def chat_markdown(text: str) -> SafeString:
    """A model's reply as sanitized markdown HTML (studyapp.chat.rendering)."""
    return render_markdown(str(text or ""))
