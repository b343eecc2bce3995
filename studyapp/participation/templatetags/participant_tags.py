"""The texts participant.js and chat.js show, in the participant's language.

The Content-Security-Policy forbids inline scripts, so the catalogue is a JSON data block
(`json_script`) that the scripts read: each key is the English text the script would show
(its own fallback), each value that text in the active language. `%(name)s` placeholders
are filled in by the script.
"""

from __future__ import annotations

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_noop

register = template.Library()

SCRIPT_TEXTS = (
    # participant.js
    gettext_noop("%(value)s out of 100"),
    # chat.js
    gettext_noop("Reply interrupted."),
    gettext_noop("Reply failed."),
    gettext_noop("No messages yet. Describe your situation in your own words."),
    gettext_noop("%(used)s of %(max)s messages used"),
    gettext_noop("You have used all your messages. Press Finish to go on to the questions."),
    gettext_noop("This chat is closed. Please reload the page."),
    gettext_noop("Connection lost. Reconnecting…"),
    gettext_noop("Not connected. Your message will be sent when the connection is back."),
    gettext_noop("This part of the study is finished, so the chat is closed."),
    gettext_noop("The assistant is still finishing a reply…"),
    gettext_noop("The last reply did not finish. You can try again, or leave the study below."),
    gettext_noop("The last reply did not finish. You can try again."),
    gettext_noop("The assistant is replying…"),
    gettext_noop("The reply did not finish. Please try again."),
    gettext_noop("Something went wrong. Please try again."),
    gettext_noop("Please type a message first."),
    gettext_noop("Your message is too long. Please keep it to %(max)s characters or fewer."),
    gettext_noop("Sending…"),
    gettext_noop("Pasting is turned off. Please type your message in your own words."),
    gettext_noop("Trying again…"),
)


def script_texts() -> dict[str, str]:
    return {text: gettext(text) for text in SCRIPT_TEXTS}


@register.simple_tag
def participant_script_texts() -> SafeString:
    return json_script(script_texts(), "participant-texts")
