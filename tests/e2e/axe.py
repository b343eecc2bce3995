"""Accessibility checked by a machine: axe-core (vendored) run in a page of a browser test.

The script is evaluated through the browser's DevTools protocol, not added as a <script>,
so the page's Content-Security-Policy stays as strict as it is for participants.
"""

from __future__ import annotations

import json
from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
# What a test refuses; "moderate" and "minor" findings are reported but pass.
BLOCKING = ("serious", "critical")


def audit(page) -> list[dict]:
    """Every axe violation on the page as it is now: [{id, impact, help, nodes}]."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ["violations"]});
          return r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))
          }));
        }"""
    )
    return list(result)


def blocking(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(where: str, violations: list[dict]) -> str:
    return f"{where}: " + json.dumps(violations, indent=1)
