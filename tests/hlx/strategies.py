"""Hypothesis strategies: random nested HLX values (`values()`), and answers in each checker format
(`answers(fmt)`): valid ones rendered, then perturbed."""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

from hlx.formats import FORMATS, render
from hlx.ls import diagnose
from hlx.transliterate import to_runic
from hlx.values import Contract, Handle, Record, Value
from tests.hlx.program_strategies import programs

# "C" (the LC-T contract marker) and 13-letter keys (0x0D, the LC-B record end) are edge cases on purpose.
identifiers: st.SearchStrategy[str] = st.sampled_from(["C", "name", "abcdefghijklm", "_"]) | st.from_regex(
    r"[A-Za-z_][A-Za-z0-9_]{0,14}", fullmatch=True
)

texts: st.SearchStrategy[str] = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)), max_size=12
).map(lambda text: unicodedata.normalize("NFC", text))

handles: st.SearchStrategy[Handle] = st.builds(Handle, identifiers)

scalars: st.SearchStrategy[Value] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    st.binary(max_size=12),
    handles,
)


def contracts(children: st.SearchStrategy[Value]) -> st.SearchStrategy[Contract]:
    """Contracts with ids 0..2000 and up to four fields at indices 0..20 (8 is the LC-B end-tag case)."""
    fields = st.dictionaries(st.integers(min_value=0, max_value=20), children, max_size=4)
    ordered_fields = fields.map(lambda by_index: tuple(sorted(by_index.items())))
    return st.builds(Contract, st.integers(min_value=0, max_value=2000), ordered_fields)


def records(children: st.SearchStrategy[Value]) -> st.SearchStrategy[Record]:
    """Records with up to four entries under unique identifier keys, in generated order."""
    entries = st.lists(st.tuples(identifiers, children), max_size=4, unique_by=lambda entry: entry[0])
    return entries.map(lambda pairs: Record(tuple(pairs)))


def values(max_leaves: int = 16) -> st.SearchStrategy[Value]:
    """Any HLX value: scalars nested in arrays, contracts and records (up to `max_leaves` scalars).

    Hypothesis may warn "Generating overly large repr" when it retries a draw from the nested one_of;
    silence it with `pytest.mark.filterwarnings("ignore:Generating overly large repr")`.
    """
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=4), contracts(children), records(children)),
        max_leaves=max_leaves,
    )


# ------------------------------------------------------------------------------- answers to grade

# Small edits a model makes: most break an answer, some (surrounding space) keep it valid.
EDITS = ("none", "surrounding space", "drop a character", "insert a character", "replace a character",
         "cut short", "repeat a slice")
_NOISE = st.sampled_from(list("[]{}(),:;=@&⟁🐃🐄🐊🐁🐂◇◆∅⊤⊥ \"0123456789.-xAEK_"))


@st.composite
def perturbed(draw: st.DrawFn, text: str) -> str:
    """`text` unchanged, or with one edit from EDITS at a drawn position."""
    edit = draw(st.sampled_from(EDITS))
    if edit == "none":
        return text
    if edit == "surrounding space":
        return draw(st.sampled_from(["", " ", "\n", "  \t"])) + text + draw(st.sampled_from([" ", "\n"]))
    at = draw(st.integers(min_value=0, max_value=len(text)))
    if edit == "drop a character":
        return text[:at] + text[at + 1 :]
    if edit == "insert a character":
        return text[:at] + draw(_NOISE) + text[at:]
    if edit == "replace a character":
        return text[:at] + draw(_NOISE) + text[at + 1 :]
    if edit == "cut short":
        return text[:at]
    end = draw(st.integers(min_value=at, max_value=len(text)))
    return text[:end] + text[at:end] + text[end:]


def _rendered(fmt: str) -> st.SearchStrategy[str]:
    """A valid answer in `fmt`, written canonically (programs: in the generator's random layout)."""
    if fmt in FORMATS:
        return values(max_leaves=8).map(lambda value: render(value, fmt))
    if fmt == "hlxl-program":
        return programs(max_depth=2)
    if fmt == "hlx-program":
        return programs(max_depth=2).map(to_runic)
    if fmt == "diagnostic":
        # What the LS says about a (perhaps broken) value: `OK` or one error line, both valid diagnostics.
        value_format = st.sampled_from(FORMATS)
        return value_format.flatmap(lambda f: _rendered(f).flatmap(perturbed).map(lambda t: diagnose(t, f)))
    return texts.filter(lambda text: text.strip() != "")


def answers(fmt: str) -> st.SearchStrategy[str]:
    """Answers in `fmt` as a model might give them: a valid value or program rendered in the format, then
    maybe perturbed. A good share stay valid, so the checker's valid paths are exercised, not only errors."""
    return _rendered(fmt).flatmap(perturbed)
