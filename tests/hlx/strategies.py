"""Hypothesis strategies for random nested HLX values; other test modules import `values()` from here."""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

from hlx.values import Contract, Handle, Record, Value

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
