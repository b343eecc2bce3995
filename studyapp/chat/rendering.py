"""Model replies shown as markdown: parsed with markdown-it (raw HTML off), then cleaned by
an allow-list sanitizer (nh3).

The stored text stays the model's raw text; this is only how it is shown. The browser
renders replies while they stream with the vendored markdown-it and DOMPurify
(static/js/chat.js), configured from `markdown_policy()`, so both sides parse the same
markdown (markdown-it's "default" preset, here "js-default"; line breaks kept) and keep
the same tags, attributes and URL schemes.

Why both a parser without HTML and a sanitizer: the parser alone already escapes any
markup in the text and refuses javascript:/vbscript:/file: links, but images with data:
URLs, relative links and whatever a future parser option lets through are for the
sanitizer to refuse; an allow-list fails closed.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

# What a rendered reply may contain. No images (tracking pixels, data: URLs), no style
# attributes (a reply must not restyle the page), no ids, and no classes but the table
# column alignments below.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "ol": frozenset({"start"}),
    **{
        tag: frozenset()
        for tag in (
            "p", "br", "hr", "strong", "em", "s", "del", "code", "pre", "blockquote",
            "ul", "li", "h1", "h2", "h3", "h4", "h5", "h6",
            "table", "thead", "tbody", "tr", "th", "td",
        )
    },
}  # fmt: skip
# Table column alignment (`|---:|`): markdown-it writes it as style="text-align:…" on th and
# td; the parser here (and the browser's, chat.js) writes one of these classes instead
# (app.css aligns them), and the sanitizer keeps these classes only, on th and td only.
ALIGN_CLASSES = {"left": "align-left", "center": "align-center", "right": "align-right"}
_ALIGN_STYLE_RE = re.compile(r"^text-align:(left|center|right)$")
ALLOWED_CLASSES: dict[str, frozenset[str]] = {
    tag: frozenset(ALIGN_CLASSES.values()) for tag in ("th", "td")
}
URL_SCHEMES = ("http", "https", "mailto")
# Links open in a new tab (the participant's study page stays where it was), without the
# opened page getting a handle on ours, our address, or our endorsement.
LINK_REL = "noopener noreferrer nofollow"
LINK_TARGET = "_blank"

# Both sides: markdown-it's validateLink, replaced by this (absolute links of these
# schemes only; anything else is shown as the text it was).
_LINK_RE = re.compile(r"^\s*(?:https?|mailto):", re.IGNORECASE)
PARSER_OPTIONS = {"html": False, "linkify": False, "typographer": False, "breaks": True}


def markdown_policy() -> dict[str, Any]:
    """The allow-list and parser options, for the browser (json_script in chat/_chat.html)."""
    return {
        "tags": sorted(ALLOWED_ATTRIBUTES),
        "attributes": {tag: sorted(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items() if attrs},
        "classes": {tag: sorted(classes) for tag, classes in ALLOWED_CLASSES.items()},
        "align_classes": ALIGN_CLASSES,
        "url_schemes": list(URL_SCHEMES),
        "link_rel": LINK_REL,
        "link_target": LINK_TARGET,
        "parser": PARSER_OPTIONS,
    }


def _link_allowed(url: str) -> bool:
    return bool(_LINK_RE.match(url))


def _alignment_as_class(state: StateCore) -> None:
    """Table cells' style="text-align:…" as ALIGN_CLASSES (chat.js does the same)."""
    for token in state.tokens:
        if token.type not in ("th_open", "td_open"):
            continue
        style = token.attrs.pop("style", None)
        match = _ALIGN_STYLE_RE.match(str(style or ""))
        if match:
            token.attrSet("class", ALIGN_CLASSES[match.group(1)])


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("js-default", PARSER_OPTIONS)
    md.validateLink = _link_allowed  # type: ignore[method-assign]
    md.core.ruler.push("align_classes", _alignment_as_class)
    return md


def _only_allowed_classes(tag: str, attribute: str, value: str) -> str | None:
    """A class attribute keeps the allowed classes of its tag, or goes when none is left.
    (nh3's allowed_classes would leave an empty class="" behind; DOMPurify in chat.js
    drops it, and both sides should give the same nodes.)"""
    if attribute != "class":
        return value
    kept = [name for name in value.split() if name in ALLOWED_CLASSES.get(tag, ())]
    return " ".join(kept) or None


@cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_ATTRIBUTES),
        # Never in the parser's output (it escapes markup); should one appear, its content
        # goes too rather than showing as text.
        clean_content_tags={"script", "style"},
        attributes={
            tag: set(attrs) | ({"class"} if tag in ALLOWED_CLASSES else set())
            for tag, attrs in ALLOWED_ATTRIBUTES.items()
        },
        attribute_filter=_only_allowed_classes,
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": LINK_TARGET}},
        strip_comments=True,
    )


def sanitize(html: str) -> str:
    """HTML reduced to the allow-list (tags, attributes, classes, URL schemes)."""
    return _cleaner().clean(html)


def render_markdown(text: str) -> SafeString:
    """A model's text as sanitized HTML, safe to put in a page as it is."""
    if not text:
        return SafeString("")
    html = sanitize(_parser().render(text))
    return mark_safe(html)  # noqa: S308 (sanitized by the allow-list just above)
