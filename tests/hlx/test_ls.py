"""Tests of the six LS operations on values (HLX_SPEC §6): their exact answer strings in every text format."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from hlx import ls
from hlx.errors import E_LC_PARSE, E_UNEXPECTED_TOKEN, HLXError
from hlx.formats import parse, render
from hlx.values import Value, values_equal
from tests.hlx.strategies import values

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

SHADER_HLXL = '{900: {@0: &h_sh, @1: "main", @2: "compute"}}'


@pytest.mark.parametrize(
    ("text", "fmt", "answer"),
    [
        ("[1, 2]", "hlxl", "OK"),
        ("[1 2]", "hlxl", "E_UNEXPECTED_TOKEN (1101) at 3: expected ']' or ',', found '2'"),
        ("🐃1🐄", "lc-r", "OK"),
        ("[1,", "lc-r",
         "E_INVALID_CHAR (1001) at 0: character '[' (U+005B) is not allowed in LC-R outside strings"),
        ("{C:14,1=1,0=2}", "LC-T",
         "E_FIELD_ORDER (1301) at 10: field @0 comes after @1; indices must strictly ascend"),
        ("01 FB 00", "lc-b", "OK"),
        ("0E", "lc-b", "E_LC_PARSE (1100) at 0: unknown tag 0x0E; tags are 0x00 to 0x0D"),
    ],
)
def test_diagnose_answers_ok_or_the_first_error_line(text: str, fmt: str, answer: str) -> None:
    assert ls.diagnose(text, fmt) == answer


@pytest.mark.parametrize(
    ("text", "offset", "fmt", "answer"),
    [
        ("&h_docs", 3, "hlxl", "handle docs"),
        ("@docs", 0, "lc-t", "handle docs"),
        ("123", 1, "hlxl", "int 123"),
        ("[1.5, NULL, TRUE]", 7, "lc-t", "null"),
        ("[1.5, NULL, TRUE]", 13, "lc-t", "bool true"),
        ("[1.5, null]", 2, "hlxl", "float 1.5"),
        ('🐃"é", 0xDEAD🐄', 2, "lc-r", 'text "é"'),
        ('["é"]', 2, "hlxl", 'text "\\u00e9"'),
        ("[0xDEAD]", 1, "hlxl", "bytes 0xDEAD"),
        ("[1, 2]", 0, "hlxl", "array of 2 elements"),
        ("[[3]]", 1, "hlxl", "array of 1 element"),
        (" [1] ", 0, "hlxl", "nothing at offset 0"),
        ('{name: "A", n: 1}', 2, "hlxl", 'record entry name = "A"'),
        ('{name: "A", n: 1}', 9, "hlxl", 'record entry name = "A"'),
        ('{name: "A", n: 1}', 10, "hlxl", "record with 2 entries"),
        ('{name: "A", n: 1}', 16, "hlxl", "record with 2 entries"),
        ("◇a: ◇◆◆", 4, "lc-r", "record entry a = ◇◆"),
        ("◇a: ◇◆◆", 6, "lc-r", "record with 1 entry"),
        (SHADER_HLXL, 1, "hlxl", "contract 900 VulkanShader with 3 fields"),
        (SHADER_HLXL, 7, "hlxl", "contract 900 VulkanShader, field @0 shader binary handle = &h_sh"),
        (SHADER_HLXL, 40, "hlxl", 'contract 900 VulkanShader, field @2 stage = "compute"'),
        ('{C:900,2="compute"}', 10, "lc-t", 'contract 900 VulkanShader, field @2 stage = "compute"'),
        ('🐊900🐁2 "compute"🐂', 4, "lc-r", 'contract 900 VulkanShader, field @2 stage = "compute"'),
        ("🐊77🐁1 5🐂", 5, "lc-r", "contract 77, field @1 = 5"),
        ("{C:900,7=5}", 7, "lc-t", "contract 900 VulkanShader, field @7 = 5"),
        ("{C:1000,3=@x}", 8, "lc-t", "contract 1000 General operation, field @3 argument 3 = @x"),
        ("{14: {@0: [1, 2]}}", 11, "hlxl", "int 1"),
        ("{14: {@0: [1, 2]}}", 10, "hlxl", "contract 14 Int box, field @0 int = [1, 2]"),
        ("{77: {}}", 0, "hlxl", "contract 77 with 0 fields"),
    ],
)
def test_hover_describes_the_innermost_value(text: str, offset: int, fmt: str, answer: str) -> None:
    assert ls.hover(text, offset, fmt) == answer


def test_hover_refuses_an_offset_outside_the_text_and_binary_input() -> None:
    with pytest.raises(ValueError, match=r"offset 5 is outside the text \(0..4\)"):
        ls.hover("[1,2]", 5, "hlxl")
    with pytest.raises(ValueError, match="use hlxl, lc-t or lc-r, not lc-b"):
        ls.hover("00", 0, "lc-b")


def test_hover_on_invalid_input_raises_its_error() -> None:
    with pytest.raises(HLXError, match=r"expected '\]' or ','"):
        ls.hover("[1 2]", 0, "hlxl")


@pytest.mark.parametrize(
    ("cut", "fmt", "completed"),
    [
        ("[1, [2, {14: {@0: 1", "hlxl", "[1, [2, {14: {@0: 1}}]]"),
        ("{14: {@0: 1}", "hlxl", "{14: {@0: 1}}"),
        ("{14: {", "hlxl", "{14: {}}"),
        ('[1, "ab', "hlxl", '[1, "ab"]'),
        ('{name: "A", n: 1', "hlxl", '{name: "A", n: 1}'),
        ("{C:3,0=[1", "lc-t", "{C:3,0=[1]}"),
        ('{a:"x', "lc-t", '{a:"x"}'),
        ("🐃1, ◇a: 🐊3🐁0 ⊤", "lc-r", "🐃1, ◇a: 🐊3🐁0 ⊤🐂◆🐄"),
        ("05 01 01 07 03", "lc-b", "05 01 01 07 03 08 06"),
        ("[1, 2]", "hlxl", "[1, 2]"),
    ],
)
def test_complete_appends_only_the_closers(cut: str, fmt: str, completed: str) -> None:
    assert ls.complete(cut, fmt) == completed


@pytest.mark.parametrize(
    ("cut", "fmt", "code", "offset"),
    [
        ("[1, ", "hlxl", E_UNEXPECTED_TOKEN, 4), ("[tr", "hlxl", E_UNEXPECTED_TOKEN, 1),
        ("[1 2", "hlxl", E_UNEXPECTED_TOKEN, 3), ("{a:", "lc-t", E_LC_PARSE, 3),
        ("03 05 61", "lc-b", E_LC_PARSE, 3),
    ],
)
def test_complete_refuses_what_closers_cannot_finish(cut: str, fmt: str, code: int, offset: int) -> None:
    with pytest.raises(HLXError) as caught:
        ls.complete(cut, fmt)
    assert (caught.value.code, caught.value.offset) == (code, offset)


@settings(max_examples=100, deadline=None)
@given(value=values(max_leaves=10))
def test_complete_restores_every_canonical_text_cut_right_after_a_scalar(value: Value) -> None:
    for fmt in ("hlxl", "lc-t", "lc-r"):
        full = render(value, fmt)
        # Cutting off the trailing closers (never anything else) must be undone exactly.
        cut = full.rstrip("]}🐄🐂◆")
        if cut:
            assert ls.complete(cut, fmt) == full


@pytest.mark.parametrize(
    ("text", "fmt", "renamed"),
    [
        ('[&h_a, {a: &h_a, b: &h_ab, c: "a"}]', "hlxl", '[&h_z, {a: &h_z, b: &h_ab, c: "a"}]'),
        ("{C:900,0=@a}", "lc-t", "{C:900,0=@z}"),
        ("🐃⟁a,⟁b🐄", "lc-r", "🐃⟁z, ⟁b🐄"),
        ("09 01 61", "lc-b", "09 01 7A"),
    ],
)
def test_rename_changes_every_handle_of_that_name(text: str, fmt: str, renamed: str) -> None:
    assert ls.rename(text, "a", "z", fmt) == renamed


def test_rename_refuses_a_new_name_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match=r"new handle name '9x' must match"):
        ls.rename("&h_a", "a", "9x", "hlxl")


@pytest.mark.parametrize(
    ("text", "fmt", "formatted"),
    [
        ("[ 1 ,2 ]", "hlxl", "[1, 2]"),
        ("{ C : 14 , 0 = 1 }", "lc-t", "{C:14,0=1}"),
        ("🐃 1,2 🐄", "lc-r", "🐃1, 2🐄"),
        ("01fb00", "lc-b", "01 FB 00"),
        ("{name:\"A\"}", "hlxl", '{name: "A"}'),
    ],
)
def test_format_rewrites_in_canonical_spacing(text: str, fmt: str, formatted: str) -> None:
    assert ls.format(text, fmt) == formatted


@pytest.mark.parametrize(
    ("text", "fmt", "kind"),
    [
        ("123", "hlxl", "int"),
        ('"x"', "lc-t", "text"),
        ("NULL", "lc-t", "null"),
        ("⊤", "lc-r", "bool"),
        ("[1, 2]", "hlxl", "array[int]"),
        ('[1, "a", 2]', "hlxl", "array[int, text]"),
        ("[]", "hlxl", "array[]"),
        ("[[1], [\"x\"], [2]]", "hlxl", "array[array[int], array[text]]"),
        ('{C:1000,0="op",1=@a,2=@b}', "lc-t", "contract 1000 [text, handle, handle]"),
        ('{7: {@0: 1, @5: "x"}}', "hlxl", "contract 7 [@0: int, @5: text]"),
        ("🐊14🐂", "lc-r", "contract 14 []"),
        ('{name: "Alice", age: 30}', "hlxl", "record {name: text, age: int}"),
        ("{}", "hlxl", "record {}"),
        ("02 40 0C 00 00 00 00 00 00", "lc-b", "float"),
        ("0xDE", "hlxl", "bytes"),
    ],
)
def test_infer_names_the_kind(text: str, fmt: str, kind: str) -> None:
    assert ls.infer(text, fmt) == kind


@settings(max_examples=100, deadline=None)
@given(value=values(max_leaves=10))
def test_operations_agree_across_formats(value: Value) -> None:
    kinds = {ls.infer(render(value, fmt), fmt) for fmt in ("hlxl", "lc-t", "lc-r", "lc-b")}
    assert len(kinds) == 1
    for fmt in ("hlxl", "lc-t", "lc-r", "lc-b"):
        assert ls.diagnose(render(value, fmt), fmt) == "OK"
        assert values_equal(parse(ls.format(render(value, fmt), fmt), fmt), value)


def test_contract_table_names() -> None:
    assert (ls.contract_name(902), ls.field_name(902, 3)) == ("VulkanDispatch", "workgroup count Z")
    assert (ls.contract_name(5), ls.field_name(5, 0), ls.field_name(14, 1)) == (None, None, None)
