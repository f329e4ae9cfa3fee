"""Tests of the HLX value model: construction checks, strict equality, kinds and canonical literals."""

from __future__ import annotations

import pytest

from hlx.errors import E_FLOAT_SPECIAL, E_SIZE_EXCEEDED, HLXError
from hlx.values import (
    Contract,
    Handle,
    Record,
    check_float,
    children,
    float_literal,
    int_literal,
    is_identifier,
    kind_of,
    nfc,
    values_equal,
)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1, True),
        (1, 1.0, False),
        (1, True, False),
        (0, False, False),
        (0.0, -0.0, False),
        (-0.0, -0.0, True),
        ("a", b"a", False),
        ([1, [2.5]], [1, [2.5]], True),
        ([1, [2]], [1, [2.0]], False),
        ([1], [1, 2], False),
        (Contract(3, ((0, 1),)), Contract(3, ((0, 1),)), True),
        (Contract(3, ((0, 1),)), Contract(3, ((1, 1),)), False),
        (Contract(3, ((0, 1),)), Contract(3, ((0, True),)), False),
        (Record((("a", 1), ("b", 2))), Record((("a", 1), ("b", 2))), True),
        (Record((("a", 1), ("b", 2))), Record((("b", 2), ("a", 1))), False),
        (Handle("x"), Handle("x"), True),
        (Handle("x"), "x", False),
        (None, None, True),
    ],
)
def test_values_equal_is_type_exact(a: object, b: object, equal: bool) -> None:
    assert values_equal(a, b) is equal
    assert values_equal(b, a) is equal


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"), (True, "bool"), (7, "int"), (7.0, "float"), ("t", "text"), (b"", "bytes"),
        ([], "array"), (Contract(1), "contract"), (Handle("h"), "handle"), (Record(()), "record"),
    ],
)
def test_kind_of_names_each_kind(value: object, kind: str) -> None:
    assert kind_of(value) == kind


@pytest.mark.parametrize("outsider", [(1, 2), {"a": 1}, bytearray(b"x"), object()])
def test_kind_of_refuses_python_objects_outside_the_model(outsider: object) -> None:
    with pytest.raises(TypeError, match="is not an HLX value; use None, bool, int"):
        kind_of(outsider)


def test_contract_accepts_any_iterable_of_pairs_and_stores_a_tuple() -> None:
    contract = Contract(5, [(0, "a"), (3, None)])
    assert contract.fields == ((0, "a"), (3, None))
    assert list(children(contract)) == ["a", None]


@pytest.mark.parametrize(
    ("contract_id", "fields", "message"),
    [
        (-1, (), r"contract id must be an int >= 0, got -1"),
        (True, (), r"contract id must be an int >= 0, got True"),
        (1.0, (), r"contract id must be an int >= 0, got 1.0"),
        (2, ((1, 0), (1, 0)), r"contract 2: field @1 follows @1; indices must strictly ascend"),
        (2, ((3, 0), (1, 0)), r"field @1 follows @3"),
        (2, ((-1, 0),), r"field index must be an int >= 0, got -1"),
        (2, (("a", 0),), r"field index must be an int >= 0, got 'a'"),
    ],
)
def test_malformed_contract_is_refused(contract_id: object, fields: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Contract(contract_id, fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "9a", "a-b", "é", "a b"])
def test_handle_name_must_be_an_identifier(name: str) -> None:
    with pytest.raises(ValueError, match=r"handle name .* must match \[A-Za-z_\]"):
        Handle(name)


def test_record_keys_must_be_unique_identifiers() -> None:
    with pytest.raises(ValueError, match="record key 'a' appears twice; keys must be unique"):
        Record([("a", 1), ("a", 2)])
    with pytest.raises(ValueError, match=r"record key '1x' must match"):
        Record([("1x", 1)])


def test_is_identifier() -> None:
    assert is_identifier("_a1") and is_identifier("C")
    assert not is_identifier("1a") and not is_identifier(3) and not is_identifier("a.b")


@pytest.mark.parametrize(("number", "literal"), [(3.5, "3.5"), (-0.0, "-0.0"), (1e20, "1e+20"), (2.0, "2.0"),
                                                 (5e-324, "5e-324"), (1e16, "1e+16")])
def test_float_literal_always_has_a_point_or_an_exponent(number: float, literal: str) -> None:
    assert float_literal(number) == literal


@pytest.mark.parametrize("special", [float("nan"), float("inf"), float("-inf")])
def test_check_float_refuses_nan_and_infinity(special: float) -> None:
    with pytest.raises(HLXError, match="is not allowed: HLX floats must be finite") as caught:
        check_float(special, 7)
    assert (caught.value.code, caught.value.offset) == (E_FLOAT_SPECIAL, 7)


def test_int_literal_of_an_int_too_long_for_decimal_is_a_size_error() -> None:
    assert int_literal(-(10**30)) == "-1" + "0" * 30
    with pytest.raises(HLXError, match="int too large to write in decimal") as caught:
        int_literal(10**5000)
    assert caught.value.code == E_SIZE_EXCEEDED


def test_nfc_composes_text() -> None:
    assert nfc("e\u0301") == "\u00e9"
    assert nfc("plain") == "plain"
