from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def chat_max_chars() -> int:
    """The longest participant message, for the widget's counter and maxlength."""
    return settings.CHAT_MAX_MESSAGE_CHARS
