"""Property tests of HLX_SPEC §2's invariants: determinism, reversibility and bijection for random values."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlx import lcb
from hlx.formats import FORMATS, convert, parse, render
from hlx.values import Value, values_equal
from tests.hlx.strategies import values

# Hypothesis reprs the nested one_of of `values()` when it retries a draw; the warning is noise.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

TEXT_FORMATS = ("hlxl", "lc-t", "lc-r")
FAST = settings(max_examples=150, deadline=None)


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@FAST
@given(value=values())
def test_text_format_round_trips_to_the_identical_canonical_string(fmt: str, value: Value) -> None:
    canonical = render(value, fmt)
    reparsed = parse(canonical, fmt)
    assert values_equal(reparsed, value)
    assert render(reparsed, fmt) == canonical


@FAST
@given(value=values())
def test_lcb_decode_inverts_encode_and_encode_is_deterministic(value: Value) -> None:
    encoded = lcb.encode(value)
    assert lcb.encode(value) == encoded
    assert values_equal(lcb.decode(encoded), value)
    assert lcb.from_hex(lcb.to_hex(encoded)) == encoded


@settings(max_examples=60, deadline=None)
@given(value=values(), path=st.permutations(FORMATS))
def test_convert_chain_through_all_formats_keeps_the_canonical_strings(value: Value, path: list[str]) -> None:
    canonical = {fmt: render(value, fmt) for fmt in FORMATS}
    text, source = canonical[path[0]], path[0]
    for target in [*path[1:], path[0]]:
        text = convert(text, target, src=source)
        assert text == canonical[target]
        source = target


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(FORMATS, 2)))
@settings(max_examples=25, deadline=None)
@given(value=values(max_leaves=8))
def test_convert_between_each_pair_matches_rendering(source: str, target: str, value: Value) -> None:
    assert convert(render(value, source), target, src=source) == render(value, target)


@FAST
@given(value=values())
def test_detected_format_parses_every_canonical_text_to_the_same_value(value: Value) -> None:
    for fmt in FORMATS:
        text = render(value, fmt)
        assert values_equal(parse(text, fmt), value)
        assert values_equal(parse(convert(text, "hlxl"), "hlxl"), value)
