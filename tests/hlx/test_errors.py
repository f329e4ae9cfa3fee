"""Tests of HLXError: codes and names from the spec, the diagnostic line, and pickling."""

from __future__ import annotations

import pickle

import pytest

from hlx import errors
from hlx.errors import ERROR_NAMES, HLXError

SPEC_CODES = {
    "E_INVALID_CHAR": 1001,
    "E_LC_PARSE": 1100,
    "E_UNEXPECTED_TOKEN": 1101,
    "E_FLOAT_SPECIAL": 1201,
    "E_CONTRACT_STRUCTURE": 1202,
    "E_FIELD_ORDER": 1301,
    "E_DEPTH_EXCEEDED": 1302,
    "E_SIZE_EXCEEDED": 1303,
}


@pytest.mark.parametrize(("name", "code"), SPEC_CODES.items())
def test_module_constants_match_the_spec_table(name: str, code: int) -> None:
    assert getattr(errors, name) == code
    assert ERROR_NAMES[code] == name


def test_make_fills_in_the_name_and_str_is_the_diagnostic_line() -> None:
    err = HLXError.make(errors.E_FIELD_ORDER, 14, "field @0 comes after @1")
    assert (err.code, err.name, err.offset) == (1301, "E_FIELD_ORDER", 14)
    assert err.message == "field @0 comes after @1"
    assert str(err) == "E_FIELD_ORDER (1301) at 14: field @0 comes after @1"


def test_make_refuses_a_code_the_spec_does_not_have() -> None:
    with pytest.raises(KeyError, match="999"):
        HLXError.make(999, 0, "no such code")


def test_error_survives_pickling_with_all_fields() -> None:
    err = pickle.loads(pickle.dumps(HLXError.make(errors.E_LC_PARSE, 3, "unknown tag 0x0E")))
    assert isinstance(err, HLXError)
    assert str(err) == "E_LC_PARSE (1100) at 3: unknown tag 0x0E"
