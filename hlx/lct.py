"""LC-T, the compact ASCII-safe value format (canon: the `{C:ID,i=v}` contract form), on the text engine.

Canonical LC-T has no spaces outside strings; primitives are NULL / TRUE / FALSE, handles `@name`,
records `{key:value,...}`, arrays `[a,b]`. A record whose first key is `C` would read as a contract opener,
so that one key is written quoted (`{"C":1}`); quoted keys are accepted anywhere when parsing.
Syntax errors are E_LC_PARSE.
"""

from __future__ import annotations

from hlx.errors import E_LC_PARSE
from hlx.hlxl import TextParser, TextSyntax, render_text
from hlx.values import Value

LCT = TextSyntax(
    name="LC-T", syntax_error=E_LC_PARSE, keywords=("NULL", "TRUE", "FALSE"), handle_prefix="@",
    array=("[", ",", "]"), record=("{", ":", ",", "}"),
    contract_open="{C:", contract_after_id="", field_lead=",", field_sep=",", field_prefix="",
    field_kv="=", contract_close="}", ascii_text=True, punctuation='"[]{},:=@-+._', reserved_first_key="C",
)


def parse(text: str) -> Value:
    """Parse one LC-T value (whitespace between tokens allowed); raises HLXError."""
    return TextParser(LCT, text).parse_document()


def render(value: Value) -> str:
    """The canonical LC-T text of a value, e.g. `{C:14,0=123}`."""
    return render_text(value, LCT)
