"""The translations shipped in locale/: complete, and compiled from the .po as committed
(the .mo is committed so that the product runs without gettext installed)."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale"
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != "en"]


def po_entries(path: Path) -> list[dict]:
    """The entries of a .po file: msgid, msgid_plural, msgstr / msgstr[n], flags."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"flags": ""}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += line
            elif line.startswith("#") or not line.strip():
                continue
            elif line.startswith('"'):
                entry[key] += ast.literal_eval(line)
            else:
                key, _space, value = line.partition(" ")
                entry[key] = ast.literal_eval(value)
        if entry.get("msgid"):
            entries.append(entry)
    return entries


def translations(entry: dict) -> list[str]:
    return [value for key, value in entry.items() if key.startswith("msgstr")]


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_message_is_translated(code: str):
    entries = po_entries(LOCALE / code / "LC_MESSAGES" / "django.po")
    assert len(entries) > 100
    for entry in entries:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        assert all(translations(entry)), f"untranslated: {entry['msgid']!r}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_placeholders_survive_translation(code: str):
    placeholder = re.compile(r"%\(\w+\)[sd]")
    for entry in po_entries(LOCALE / code / "LC_MESSAGES" / "django.po"):
        wanted = set(placeholder.findall(entry["msgid"] + entry.get("msgid_plural", "")))
        for text in translations(entry):
            # A singular may say its number in words ("ein Szenario"), nothing more.
            assert set(placeholder.findall(text)) <= wanted, (entry["msgid"], text)
        if "msgid_plural" in entry:
            assert set(placeholder.findall(entry["msgstr[1]"])) == wanted, entry["msgid"]


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalogue_matches_the_po(code: str):
    folder = LOCALE / code / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for entry in po_entries(folder / "django.po"):
        if "msgid_plural" in entry:
            msgids = entry["msgid"], entry["msgid_plural"]
            assert compiled.ngettext(*msgids, 1) == entry["msgstr[0]"]
            assert compiled.ngettext(*msgids, 5) == entry["msgstr[1]"]
        else:
            assert compiled.gettext(entry["msgid"]) == entry["msgstr"], entry["msgid"]
    # Nothing in the .mo that the .po no longer has (a stale compile).
    assert len(compiled._catalog) - 1 == sum(  # minus the header
        2 if "msgid_plural" in e else 1 for e in po_entries(folder / "django.po")
    )
