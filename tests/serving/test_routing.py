"""Routing by HLX_SPEC §7: every shipped corpus record goes to its track's expert, in its format, 100%."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlx.checker import CHECK_FORMATS
from hlx.corpus_io import read_corpus
from serving.route_rules import COORDINATOR, Route, route, split_request
from serving.routing import PromotionError, PromptTooLong, UnknownExpert, expert_table

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


# The words people use (issue 12 §3): track words, a target after the payload, HLX as the whole family,
# validation answered as a diagnostic; each group with its near-misses. (request, expert, answer format)
PHRASINGS: list[tuple[str, str, str]] = [
    # track words name their track: ASCII asks for HLXL (or an HLXL program), runic for LC-R (or HLX)
    ("Translate to Runic: null", "runic", "lc-r"),
    ("Show array [1, 2, 3] in Runic", "runic", "lc-r"),
    ("Translate to ASCII format: true", "ascii", "hlxl"),
    ("translate to runic: [1, 2]", "runic", "lc-r"),
    ("Convert to RUNIC: {14: {@0: 42}}", "runic", "lc-r"),
    ("Render in the runic track: [1, 2]", "runic", "lc-r"),
    ("Write this in ASCII: 🐃1, 2🐄", "ascii", "hlxl"),
    ("Convert LC-R to ASCII: 🐃1🐄", "ascii", "hlxl"),
    ("Parse runic into HLXL: ⊤", "runic", "hlxl"),
    ("Translate to ASCII: ⟠ p {}", "ascii", "hlxl-program"),
    ("Translate to runic: program p {}", "runic", "hlx-program"),
    ("Transliterate to runic: program p {}", "runic", "hlx-program"),
    ("Transliterate to ASCII: ⟠ p {}", "ascii", "hlxl-program"),
    ("Validate runic: ⊤", "runic", "diagnostic"),
    ("Show [1, 2] in runic format", "runic", "lc-r"),
    # near-misses: a track word glued to a hyphen, a handle or an identifier, or inside the payload
    ("ASCII-safe output please: [1, 2]", COORDINATOR, "text"),
    ('Is this non-ASCII: "é"', COORDINATOR, "text"),
    ("Convert &h_runic to LC-T", "ascii", "lc-t"),
    ("Convert @ascii to LC-R", "runic", "lc-r"),
    ("Rename the runic_glyphs handle: x", COORDINATOR, "text"),
    ('Convert to LC-T: "runic"', "ascii", "lc-t"),
    # a target named after the payload
    ("Convert multiple handles: [&h_a, &h_b] to LC-R", "runic", "lc-r"),
    ("Convert multiple handles: [&h_buffer1, &h_buffer2, &h_texture] to LC-T", "ascii", "lc-t"),
    ("Convert nested array: [[1, 2], [3, 4]] into LC-B", COORDINATOR, "lc-b"),
    ("Convert this contract: {14: {@0: 42}} to LC-R.", "runic", "lc-r"),
    ("Convert the list: [1, 2] in Runic", "runic", "lc-r"),
    ("Convert LC-T: {C:14,0=1} to LC-R", "runic", "lc-r"),
    # near-misses: a format name inside a payload value is not a target
    ('Convert multiple handles: ["to LC-R"]', COORDINATOR, "text"),
    ('Convert the text: "go to LC-R" please', COORDINATOR, "text"),
    ('Store: {note: "see LC-T"}', COORDINATOR, "text"),
    # HLX meaning the whole family, and every format at once, is the coordinator's
    ("Convert 42 to all HLX formats", COORDINATOR, "text"),
    ("Are HLX formats stable?", COORDINATOR, "text"),
    ("Convert null to all HLX formats", COORDINATOR, "text"),
    ("Convert [1, 2, 3] to all formats", COORDINATOR, "text"),
    ("Convert 🐃1, 2🐄 to all HLX formats", COORDINATOR, "text"),
    ("Show {14: {@0: 1}} in every format", COORDINATOR, "text"),
    ("What are the HLX primitive types?", COORDINATOR, "text"),
    ("What is HLX?", COORDINATOR, "text"),
    ("Explain HLX type coercion", COORDINATOR, "text"),
    ("Embed HLX in JSON", COORDINATOR, "text"),
    ('Complete the HLX contract: {1000: {@0: "search", @1:', COORDINATOR, "text"),
    ("What's the relationship between all HLX formats?", COORDINATOR, "text"),
    # near-misses: HLX as a target, a source, a program or the last word of the head is the runic language
    ("Transliterate to HLX: program p {}", "runic", "hlx-program"),
    ("Validate HLX: ⟠ p {}", "runic", "diagnostic"),
    ("Write a loop in HLX", "runic", "hlx-program"),
    ("Convert HLX to HLXL: ⟠ p {}", "runic", "hlxl-program"),
    ("Validate HLX program: ⟠ p {}", "runic", "diagnostic"),
    ("rename the hlx handle: x", COORDINATOR, "text"),
    ("Convert to XHLX: 1", COORDINATOR, "text"),
    # validating and diagnosing are answered as a diagnostic, whoever answers
    ('Validate: 🐊900🐁0 ⟁shader🐁1 "main"🐂', "runic", "diagnostic"),
    ("Validate: 🐃1, 2🐄", "runic", "diagnostic"),
    ("Validate: ⟠ p { ◇ b() { ↩ 1; } }", "runic", "diagnostic"),
    ("Diagnose: ⟁docs", "runic", "diagnostic"),
    ('Validate: {C:1000,0="valid",1=@ref}', COORDINATOR, "diagnostic"),
    ("Validate LC-R: ⊤", "runic", "diagnostic"),
    ("Validate LC-B: 0A", COORDINATOR, "diagnostic"),
    ('Validate this LC-T: {C:1000,0="query"}', "ascii", "diagnostic"),
    # near-misses: a question about glyphs, and explaining, are not validation
    ("What is 🐊14🐁0 42🐂?", "runic", "lc-r"),
    ("Explain contract: 🐊14🐁0 42🐂", COORDINATOR, "text"),
    # the shipped corpora's own phrasings still route as before
    ("Convert to LC-R: {14: {@0: 42}}", "runic", "lc-r"),
    ("Convert to LC-B: [1, 2]", COORDINATOR, "lc-b"),
    ("Parse LC-T into HLXL: TRUE", "ascii", "hlxl"),
    ("HLX-LS hover LC-R at offset 0: ∅", "runic", "text"),
    ("HLXL-LS diagnose LC-T: $TRUE", "ascii", "diagnostic"),
    ("Translate to HLXL: ⟠ p {}", "ascii", "hlxl-program"),
    ('Translate from LC-T to LC-R: {C:1000,0="test"}', "runic", "lc-r"),
    ("What is the LC-R glyph for null?", "runic", "lc-r"),
    ("hello, who are you?", COORDINATOR, "text"),
]


def test_the_phrasing_table_is_big_enough_and_reaches_every_expert() -> None:
    assert len(PHRASINGS) >= 60
    assert len({text for text, _, _ in PHRASINGS}) == len(PHRASINGS)
    assert {expert for _, expert, _ in PHRASINGS} == {COORDINATOR, "ascii", "runic"}


@pytest.mark.parametrize(("request_text", "expert", "fmt"), PHRASINGS, ids=[row[0] for row in PHRASINGS])
def test_requests_route_by_the_words_people_use(request_text: str, expert: str, fmt: str) -> None:
    decision = route(request_text)
    assert (decision.expert, decision.format) == (expert, fmt), decision.reason
    assert decision.track == ("general" if expert == COORDINATOR else expert)


@pytest.mark.parametrize(
    ("request_text", "reason"),
    [
        ("Convert 42 to all HLX formats", "asks for every HLX format at once: the coordinator's job"),
        ("Are HLX formats stable?", "names HLX as the whole family, not one track, and holds no runic glyph"),
        ("Translate to Runic: null", "names RUNIC (runic track)"),
        ("Convert multiple handles: [&h_a, &h_b] to LC-R", "names LC-R (runic track)"),
    ],
)
def test_the_reason_says_which_rule_decided(request_text: str, reason: str) -> None:
    assert route(request_text).reason == reason


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
