"""Which language a participant sees: one of their study's, chosen at entry.

A study lists its languages (Study.languages, the first the default); the entry link's
`?lang=xx` or the start page's chooser picks one of them, and the participant keeps it
(Participant.language). Views and the chat socket activate it per request, not the
browser's Accept-Language: the language is part of the study's design.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation

PARAMETER = "lang"


def study_language_for(*, languages: list[str], requested: str) -> str:
    """The study's language matching `requested` ("de", "DE", "de-AT"), else its first."""
    supported = {code for code, _name in settings.LANGUAGES}
    offered = [code for code in languages if code in supported] or [settings.LANGUAGES[0][0]]
    wanted = requested.strip().lower().replace("_", "-")
    for candidate in (wanted, wanted.split("-")[0]):
        if candidate in offered:
            return candidate
    return offered[0]


def language_choices(languages: list[str]) -> list[tuple[str, str]]:
    """(code, name in its own language) for a study's languages, for the start page."""
    names = dict(settings.LANGUAGES)
    return [(code, names[code]) for code in languages if code in names]


def browser_language(request) -> str:
    """The browser's preferred supported language: only for pages that know no participant
    and no study (a broken link), where nothing better says which language to use."""
    return translation.get_language_from_request(request)
