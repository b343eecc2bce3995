"""Model replies as sanitized markdown (studyapp.chat.rendering): what renders, and what
no reply can smuggle into a page."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.template import Context, Template
from django.utils.safestring import SafeString

from studyapp.chat.rendering import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_CLASSES,
    markdown_policy,
    render_markdown,
    sanitize,
)

TABLE_AND_LIST = """**Call 999 now.**

| Sign | What to do |
|:-----|-----------:|
| Chest pain | Call *999* |
| Mild cough | See a GP |

- rest
- drink water

1. first
2. second
"""


class _Elements(HTMLParser):
    """Every element of a fragment with its attributes, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def test_it_renders_emphasis_tables_and_lists():
    html = render_markdown(TABLE_AND_LIST)
    assert isinstance(html, SafeString)
    assert "<p><strong>Call 999 now.</strong></p>" in html
    assert '<th class="align-left">Sign</th>' in html
    assert '<td class="align-left">Chest pain</td>' in html
    assert '<td class="align-right">Call <em>999</em></td>' in html
    assert "<em>999</em>" in html
    assert "<ul>\n<li>rest</li>" in html
    assert "<ol>\n<li>first</li>" in html
    assert "**" not in html


def test_it_drops_the_tables_style_attributes():
    # Column alignment comes as style="text-align:…"; a reply never styles the page.
    assert "style" not in render_markdown(TABLE_AND_LIST)


def test_table_column_alignment_survives_as_a_class():
    html = render_markdown("| a | b | c | d |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |")
    cells = [(tag, attrs) for tag, attrs in elements(html) if tag in ("th", "td")]
    assert cells == [
        ("th", {"class": "align-left"}),
        ("th", {"class": "align-center"}),
        ("th", {"class": "align-right"}),
        ("th", {}),
        ("td", {"class": "align-left"}),
        ("td", {"class": "align-center"}),
        ("td", {"class": "align-right"}),
        ("td", {}),
    ]
    assert "style" not in html


@pytest.mark.parametrize(
    "payload",
    [
        '<table><tr><td class="align-right" style="color:red">x</td></tr></table>',
        '<p class="align-right evil">x</p>',
        '<div class="x" style="position:fixed;inset:0">cover</div>',
        '<span style="text-align:right">x</span>',
    ],
)
def test_classes_and_styles_in_a_reply_are_shown_as_text(payload):
    html = str(render_markdown(payload))
    assert all(attrs == {} for _tag, attrs in elements(html)), html


def test_the_sanitizer_keeps_only_the_alignment_classes_on_cells():
    # The parser never writes other classes; should one come through, the allow-list holds.
    html = sanitize(
        '<table><tr><th class="evil align-center" style="color:red">a</th>'
        '<td class="evil">b</td><td class="align-right" id="x">c</td></tr></table>'
        '<p class="align-right">d</p><a class="align-left" href="https://e.org/">e</a>'
    )
    found = elements(html)
    assert ("th", {"class": "align-center"}) in found
    assert ("td", {}) in found
    assert ("td", {"class": "align-right"}) in found
    assert ("p", {}) in found
    assert "class" not in dict(found)["a"]
    assert "style" not in html and "evil" not in html and "id=" not in html


def test_it_keeps_line_breaks_as_the_model_wrote_them():
    assert render_markdown("Call 999.\nDo not drive.") == "<p>Call 999.<br>\nDo not drive.</p>\n"


def test_headings_quotes_code_and_ordered_starts():
    html = render_markdown("# Heading\n\n> quoted\n\n```\nx < y\n```\n\n3. third\n")
    assert "<h1>Heading</h1>" in html
    assert "<blockquote>" in html
    assert "<pre><code>x &lt; y\n</code></pre>" in html
    assert '<ol start="3">' in html


def test_links_open_in_a_new_tab_without_a_handle_on_the_page():
    html = render_markdown('See [the NHS](https://www.nhs.uk/ "NHS") or mail [us](mailto:a@b.org)')
    assert (
        '<a href="https://www.nhs.uk/" title="NHS" target="_blank" '
        'rel="noopener noreferrer nofollow">the NHS</a>'
    ) in html
    assert 'href="mailto:a@b.org"' in html


XSS = [
    "<script>window.__xss = 1</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![pixel](data:image/png;base64,iVBORw0KGgo=)",
    "![pixel](https://tracker.example/p.gif)",
    '<svg onload="alert(1)"></svg>',
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    '<div style="position:fixed;inset:0">cover</div>',
    '**bold <span onclick="alert(1)">x</span>**',
    '[x](https://e.org" onmouseover="alert(1))',
    "<!-- comment --><b>x</b>",
    "[relative](/p/someone-elses-link/)",
    "<form action=https://evil.example><button>Go</button></form>",
]


@pytest.mark.parametrize("payload", XSS)
def test_nothing_executable_survives(payload):
    html = str(render_markdown(payload))
    for tag, attrs in elements(html):
        assert tag in ALLOWED_ATTRIBUTES, html
        assert set(attrs) <= ALLOWED_ATTRIBUTES[tag] | {"target", "rel"}, html
        href = attrs.get("href")
        if href is not None:
            assert href.startswith(("http://", "https://", "mailto:")), html
    assert "<script" not in html.lower() and "<img" not in html.lower()


def test_markup_in_a_reply_is_shown_as_text():
    html = render_markdown("Use <b>bold</b> & <i>care</i>")
    assert html == "<p>Use &lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;care&lt;/i&gt;</p>\n"


def test_an_empty_reply_renders_to_nothing():
    assert render_markdown("") == ""


def test_the_browser_gets_the_same_allow_list():
    policy = markdown_policy()
    assert set(policy["tags"]) == set(ALLOWED_ATTRIBUTES)
    assert policy["attributes"] == {"a": ["href", "title"], "ol": ["start"]}
    assert policy["classes"] == {tag: sorted(c) for tag, c in ALLOWED_CLASSES.items()}
    assert policy["classes"]["td"] == ["align-center", "align-left", "align-right"]
    assert policy["align_classes"]["right"] == "align-right"
    assert policy["url_schemes"] == ["http", "https", "mailto"]
    assert policy["parser"]["html"] is False
    json.dumps(policy)  # it travels as JSON (json_script)


def test_the_template_filter_renders_and_the_policy_tag_embeds_json():
    html = Template(
        "{% load chat_tags %}{{ text|chat_markdown }}"
        "{% chat_markdown_policy as p %}{{ p|json_script:'policy' }}"
    ).render(Context({"text": "**hi** <script>x</script>"}))
    assert "<p><strong>hi</strong> &lt;script&gt;x&lt;/script&gt;</p>" in html
    assert '<script id="policy" type="application/json">' in html
