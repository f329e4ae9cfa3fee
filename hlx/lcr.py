"""LC-R, the runic value format (Unicode glyphs), on the shared text engine.

Contract `🐊ID🐁i v...🐂`, array `🐃a, b🐄`, record `◇key: value, ...◆`, handle `⟁name`, primitives `∅ ⊤ ⊥`.
Text is written as raw UTF-8 (JSON escapes only for quotes, backslashes and control characters).
Syntax errors are E_LC_PARSE.
"""

from __future__ import annotations

from hlx.errors import E_LC_PARSE
from hlx.hlxl import TextParser, TextSyntax, render_text
from hlx.values import Value

GLYPHS = "∅⊤⊥🐃🐄🐊🐁🐂◇◆⟁"

LCR = TextSyntax(
    name="LC-R", syntax_error=E_LC_PARSE, keywords=("∅", "⊤", "⊥"), handle_prefix="⟁",
    array=("🐃", ", ", "🐄"), record=("◇", ": ", ", ", "◆"),
    contract_open="🐊", contract_after_id="", field_lead="", field_sep="", field_prefix="🐁",
    field_kv=" ", contract_close="🐂", ascii_text=False, punctuation='",:-+._' + GLYPHS,
)


def parse(text: str) -> Value:
    """Parse one LC-R value (whitespace between tokens allowed); raises HLXError."""
    return TextParser(LCR, text).parse_document()


def render(value: Value) -> str:
    """The canonical LC-R text of a value, e.g. `🐊14🐁0 123🐂`."""
    return render_text(value, LCR)
