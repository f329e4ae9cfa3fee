"""Routing by HLX_SPEC §7: every shipped corpus record goes to its track's expert, in its format, 100%."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.routing import (
    COORDINATOR,
    PromotionError,
    PromptTooLong,
    Route,
    UnknownExpert,
    expert_table,
    route,
    split_request,
)
from hlx.checker import CHECK_FORMATS
from hlx.corpus_io import read_corpus

REPO = Path(__file__).resolve().parents[2]
CORPUS_FILES = sorted((REPO / "corpora").glob("*/*.jsonl")) + sorted(
    (REPO / "tests" / "training" / "fixtures" / "tiny_corpus").glob("*.jsonl")
)


def test_the_shipped_corpora_are_all_there() -> None:
    names = {path.parent.name for path in CORPUS_FILES}
    assert {"phase1_general", "ascii_specialist", "runic_specialist", "tiny_corpus"} <= names
    assert len(CORPUS_FILES) == 8


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_record_routes_to_its_tracks_expert_in_its_format(path: Path) -> None:
    examples = read_corpus(path)
    wrong = []
    for example in examples:
        decision = route(example.instruction)
        expected_expert = COORDINATOR if example.track == "general" else example.track
        if (decision.expert, decision.track, decision.format) != (
            expected_expert,
            example.track,
            example.format,
        ):
            wrong.append((example.id, example.instruction[:60], decision))
    assert wrong == [], f"{len(wrong)} of {len(examples)} misrouted, first: {wrong[:3]}"
    # Every task family of the corpus is in there, so the 100% covers each family the spec names.
    assert {e.task for e in examples} <= {
        "convert",
        "parse",
        "validate",
        "transliterate",
        "diagnose",
        "hover",
        "complete",
        "rename",
        "format",
        "infer",
        "explain",
    }


@pytest.mark.parametrize(
    ("request_text", "expert", "fmt", "reason"),
    [
        ("Convert to LC-R: {14: {@0: 42}}", "runic", "lc-r", "names LC-R (runic track)"),
        ("Convert to LC-B: [1, 2]", COORDINATOR, "lc-b", "names LC-B (coordinator's share)"),
        ("Parse LC-B into HLXL: 0A", COORDINATOR, "hlxl", "names LC-B (coordinator's share)"),
        ("Parse LC-R into HLXL: ⊤", "runic", "hlxl", "names LC-R (runic track)"),
        ("Parse LC-T into HLXL: TRUE", "ascii", "hlxl", "names LC-T (ASCII track)"),
        ("Validate HLX program: ⟠ p {}", "runic", "diagnostic", "names HLX PROGRAM (runic track)"),
        ("Validate HLXL program: program p {}", "ascii", "diagnostic", "names HLXL PROGRAM (ASCII track)"),
        ("Transliterate to HLXL: ⟠ p {}", "ascii", "hlxl-program", "transliterates to HLXL (ASCII track)"),
        ("Transliterate to HLX: program p {}", "runic", "hlx-program", "transliterates to HLX (runic track)"),
        (
            "HLX-LS hover LC-R at offset 0: ∅",
            "runic",
            "text",
            "names HLX-LS, the runic track's language server",
        ),
        (
            "HLXL-LS complete HLXL program: program p {",
            "ascii",
            "hlxl-program",
            "names HLXL-LS, the ASCII track's language server",
        ),
        (
            "HLXL-LS rename handle hlx to lc in LC-T: @hlx",
            "ascii",
            "lc-t",
            "names HLXL-LS, the ASCII track's language server",
        ),
        ("HLX-LS format: 🐃1,2🐄", "runic", "lc-r", "names HLX-LS, the runic track's language server"),
        (
            "Explain contract: 🐊14🐁0 42🐂",
            COORDINATOR,
            "text",
            "explains a contract, which is the coordinator's job",
        ),
        ("Convert {14: {@0: 42}} to LC-R", "runic", "lc-r", "names LC-R (runic track)"),
        ("convert to lc-t: null", "ascii", "lc-t", "names LC-T (ASCII track)"),
        (
            "Convert LC-T to LC-R: {C:14,0=1}",
            "runic",
            "lc-r",
            "names formats of several tracks; the requested format LC-R decides (runic track)",
        ),
        (
            "what is 🐊14🐁0 42🐂?",
            "runic",
            "lc-r",
            "names no format; the payload holds the runic glyph '🐊' (U+1F40A)",
        ),
        (
            "run this: ⟠ p { ◇ b() { ↩ 1; } }",
            "runic",
            "hlx-program",
            "names no format; the payload holds the runic glyph '⟠' (U+27E0)",
        ),
        ("hello, who are you?", COORDINATOR, "text", "names no format or track and holds no runic glyph"),
        (
            "rename the hlx handle: x",
            COORDINATOR,
            "text",
            "names no format or track and holds no runic glyph",
        ),
    ],
)
def test_requests_route_by_name_then_glyphs_then_coordinator(
    request_text: str, expert: str, fmt: str, reason: str
) -> None:
    decision = route(request_text)
    assert (decision.expert, decision.format, decision.reason) == (expert, fmt, reason)


def test_whole_words_only_hlx_is_not_read_inside_hlxl() -> None:
    assert route("Validate HLXL: 1").track == "ascii"
    assert route("Validate HLX: ⟠ p {}").track == "runic"
    assert route("Convert to XHLX: 1").expert == COORDINATOR
    assert route("HLXL-LS infer HLXL: 1").reason.startswith("names HLXL-LS")


def test_the_head_ends_at_the_first_colon_outside_a_value() -> None:
    assert split_request("Convert to LC-R: {14: {@0: 42}}") == ("Convert to LC-R", " {14: {@0: 42}}")
    assert split_request("{14: {@0: 42}} please") == (None, "{14: {@0: 42}} please")
    assert split_request("HLXL-LS hover LC-T at offset 3: NULL")[0] == "HLXL-LS hover LC-T at offset 3"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_routing_is_total_and_deterministic(text: str) -> None:
    decision = route(text)
    assert decision == route(text)
    assert decision.expert in ("coordinator", "ascii", "runic")
    assert decision.format in CHECK_FORMATS
    assert decision.reason
    assert isinstance(decision, Route) and decision.to_dict()["expert"] == decision.expert


def promotion(**specialists: dict[str, object]) -> dict[str, object]:
    return {"specialists": specialists, "coordinator": {"path": "/base", "kind": "base"}}


def test_each_track_is_served_by_its_best_specialist_else_the_coordinator() -> None:
    table = expert_table(
        promotion(
            a1={"path": "/a1", "track": "ascii", "exact_match": 0.4},
            a2={"path": "/a2", "track": "ascii", "exact_match": 0.6, "method": "qlora"},
        )
    )
    assert table.by_track == {"ascii": "a2"}
    assert table.serving("ascii") == ("a2", None)
    assert table.serving("general") == (COORDINATOR, None)
    assert table.serving("runic") == (
        COORDINATOR,
        "no runic specialist was promoted, so the coordinator serves this track",
    )
    assert table.specialists["a2"].is_adapter and table.coordinator.path == Path("/base")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"specialists": {}}, "key 'coordinator' must be an object with the base model's 'path'"),
        (promotion(x={"track": "ascii"}), r"specialists\.x: missing key 'path'"),
        (promotion(x={"path": "/x", "track": "tiny"}), r"specialists\.x\.track: 'tiny' is not one of"),
        (promotion(x={"path": "/x", "track": "ascii", "method": "dora"}), r"specialists\.x\.method: 'dora'"),
        (promotion(coordinator={"path": "/x", "track": "ascii"}), "'coordinator' is reserved"),
        ({"coordinator": {"path": "/b"}, "specialists": []}, "key 'specialists' must be an object"),
    ],
)
def test_a_bad_promotion_names_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(PromotionError, match=rf"^run/promoted\.json: .*{message}"):
        expert_table(data, "run/promoted.json")


def test_request_errors_keep_their_field_through_pickling() -> None:
    # Ray pickles a remote method's exception back to the caller (the HTTP app maps `field` and `status`).
    error = pickle.loads(pickle.dumps(UnknownExpert("no expert 'x'", field="model")))
    assert (type(error), str(error), error.field, error.status) == (
        UnknownExpert,
        "no expert 'x'",
        "model",
        404,
    )
    too_long = pickle.loads(pickle.dumps(PromptTooLong("long", field="prompt")))
    assert (too_long.status, too_long.field) == (413, "prompt")
