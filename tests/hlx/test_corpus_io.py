"""Tests for the corpus reader and writer: both record shapes and every kind of unusable input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hlx.checker import CHECK_FORMATS
from hlx.corpus_io import (
    RECORD_FORMATS,
    CorpusError,
    Example,
    RawLine,
    decode_line,
    dumps_record,
    iter_raw_lines,
    prompt_text,
    read_corpus,
    write_corpus,
)

EXAMPLE = Example("c/train/000001", "Convert to LC-R: [1, 2]", "🐃1, 2🐄", "convert", "runic", "lc-r")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_round_trip_keeps_key_order_and_unicode(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "train.jsonl"
    write_corpus(target, [EXAMPLE, EXAMPLE])
    text = target.read_text(encoding="utf-8")
    assert text.splitlines()[0] == (
        '{"id": "c/train/000001", "instruction": "Convert to LC-R: [1, 2]", "response": "🐃1, 2🐄", '
        '"task": "convert", "track": "runic", "format": "lc-r"}'
    )
    assert read_corpus(target) == [EXAMPLE, EXAMPLE]
    assert list(tmp_path.joinpath("sub").iterdir()) == [target]


def test_dumps_record_is_parseable_json() -> None:
    assert json.loads(dumps_record(EXAMPLE)) == EXAMPLE.to_dict()


def test_seed_shape_is_accepted(tmp_path: Path) -> None:
    line = json.dumps({"input": prompt_text("Say hi in LC-T"), "output": '"hi"'})
    corpus = _write(tmp_path / "seeds.jsonl", (line + "\n").encode())
    (example,) = read_corpus(corpus)
    assert example == Example("seeds.jsonl:1", "Say hi in LC-T", '"hi"', "unknown", "general", "text")


def test_seed_shape_with_a_bare_instruction_is_a_training_record(tmp_path: Path) -> None:
    # 172 of the public seed records look like this: the instruction itself, no `### Instruction:` template.
    lines = [
        {"input": "HLXL: null", "output": "LC-R: ∅"},
        {"input": "  Translate to LC-R: true\n", "output": "⊤"},
    ]
    corpus = _write(tmp_path / "s.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())
    assert read_corpus(corpus) == [
        Example("s.jsonl:1", "HLXL: null", "LC-R: ∅", "unknown", "general", "text"),
        Example("s.jsonl:2", "Translate to LC-R: true", "⊤", "unknown", "general", "text"),
    ]


@pytest.mark.parametrize(
    "prompt",
    ["### Instruction:\nno response header", "Say hi\n\n### Response:\n", "x ### Instruction:\ny"],
)
def test_seed_shape_with_half_a_template_names_the_template(tmp_path: Path, prompt: str) -> None:
    corpus = _write(tmp_path / "s.jsonl", (json.dumps({"input": prompt, "output": "x"}) + "\n").encode())
    with pytest.raises(
        CorpusError, match=r"s\.jsonl:1: key 'input' has a '### Instruction:' or '### Response:' marker but "
        r"does not follow the seeds' template .*; give the whole template or the bare instruction"
    ):
        read_corpus(corpus)


def test_blank_lines_are_skipped_and_crlf_accepted(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", b"\n" + dumps_record(EXAMPLE).encode() + b"\r\n\n")
    assert read_corpus(corpus) == [EXAMPLE]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b'{"id": 1}\n', r"c\.jsonl:1: keys \['id'\] match no known shape"),
        (b"[1, 2]\n", r"c\.jsonl:1: expected a JSON object, got list"),
        (b"{nope\n", r"c\.jsonl:1: not JSON"),
        (b"\xff\xfe{}\n", r"c\.jsonl:1: invalid UTF-8 at byte 0"),
        (b"[" * 100_000 + b"\n", r"c\.jsonl:1: not .*JSON"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, content: bytes, pattern: str) -> None:
    corpus = _write(tmp_path / "c.jsonl", content)
    with pytest.raises(CorpusError, match=pattern):
        read_corpus(corpus)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"response": "  "}, r"c\.jsonl:2: key 'response' is empty"),
        ({"task": "dance"}, r"c\.jsonl:2: key 'task' is 'dance'; allowed: convert, parse"),
        ({"track": "latin"}, r"key 'track' is 'latin'; allowed: general, ascii, runic"),
        ({"format": "yaml"}, r"key 'format' is 'yaml'; allowed: hlxl, lc-t"),
        ({"id": 7}, r"key 'id' must be a string, got int"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, change: dict[str, object], pattern: str) -> None:
    record = {**EXAMPLE.to_dict(), **change}
    content = (dumps_record(EXAMPLE) + "\n" + json.dumps(record) + "\n").encode()
    corpus = _write(tmp_path / "c.jsonl", content)
    with pytest.raises(CorpusError, match=pattern):
        read_corpus(corpus)


def test_missing_file_directory_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"nope\.jsonl: no such file"):
        read_corpus(tmp_path / "nope.jsonl")
    with pytest.raises(CorpusError, match=r"is not a regular file"):
        read_corpus(tmp_path)
    empty = _write(tmp_path / "empty.jsonl", b"")
    with pytest.raises(CorpusError, match=r"empty\.jsonl: holds no records"):
        read_corpus(empty)


def test_long_line_is_measured_without_being_held(tmp_path: Path) -> None:
    big = b'{"id": "' + b"x" * 3_000_000 + b'"}'
    corpus = _write(tmp_path / "big.jsonl", dumps_record(EXAMPLE).encode() + b"\n" + big + b"\n" + b"tail\n")
    lines = list(iter_raw_lines(corpus, max_line_bytes=1_000_000))
    assert [line.number for line in lines] == [1, 2, 3]
    assert lines[1] == RawLine(2, None, len(big))
    assert lines[2].data == b"tail"
    with pytest.raises(CorpusError, match=r"big\.jsonl:2: line 2 is 3\.0 MB, over the limit of 1\.0 MB"):
        read_corpus(corpus, max_line_bytes=1_000_000)


def test_long_last_line_without_newline(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", b"y" * 50)
    (line,) = iter_raw_lines(corpus, max_line_bytes=10)
    assert line == RawLine(1, None, 50)
    exact = _write(tmp_path / "d.jsonl", b"z" * 10 + b"\n")
    assert list(iter_raw_lines(exact, max_line_bytes=10)) == [RawLine(1, b"z" * 10, 10)]


def test_decode_line_blank_is_none(tmp_path: Path) -> None:
    assert decode_line(tmp_path / "c.jsonl", RawLine(4, b"   ", 3)) is None


def test_record_formats_follow_the_checker() -> None:
    assert RECORD_FORMATS == CHECK_FORMATS


@pytest.mark.parametrize(
    ("prompt", "instruction"),
    [
        ("### Instruction:\nTwo\nlines\n\n### Response:\n", "Two\nlines"),
        ("### Instruction:\nShort gap\n### Response:\n", "Short gap"),
        ("### Instruction:\nNo trailing newline\n\n### Response:", "No trailing newline"),
    ],
)
def test_seed_template_is_read_leniently(tmp_path: Path, prompt: str, instruction: str) -> None:
    corpus = _write(tmp_path / "s.jsonl", (json.dumps({"input": prompt, "output": "x"}) + "\n").encode())
    assert read_corpus(corpus)[0].instruction == instruction


SEED_HI = Example("c.jsonl:1", "Say hi in LC-T", '"hi"', "unknown", "general", "text")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({**EXAMPLE.to_dict(), "specialist": "runic", "split": "val"}, EXAMPLE),
        ({**EXAMPLE.to_dict(), "split": "train"}, EXAMPLE),
        ({"input": prompt_text("Say hi in LC-T"), "output": '"hi"', "specialist": "ascii"}, SEED_HI),
        ({"input": prompt_text("Say hi in LC-T"), "output": '"hi"', "split": "val"}, SEED_HI),
    ],
)
def test_routing_keys_are_accepted_on_either_shape(
    tmp_path: Path, record: dict[str, str], expected: Example
) -> None:
    corpus = _write(tmp_path / "c.jsonl", (json.dumps(record) + "\n").encode())
    assert read_corpus(corpus) == [expected]


@pytest.mark.parametrize(
    ("change", "kind", "pattern"),
    [
        ({"split": "test"}, "bad_field", r"c\.jsonl:1: key 'split' is 'test'; allowed: train, val"),
        ({"split": 1}, "bad_field", r"c\.jsonl:1: key 'split' must be a string, got int"),
        ({"specialist": 3}, "bad_field", r"c\.jsonl:1: key 'specialist' must be a string, got int"),
        ({"specialist": ["ascii"]}, "bad_field", r"key 'specialist' must be a string, got list"),
        ({"specialist": " "}, "empty_field", r"c\.jsonl:1: key 'specialist' is empty"),
    ],
)
def test_bad_routing_keys_are_named(
    tmp_path: Path, change: dict[str, object], kind: str, pattern: str
) -> None:
    for record in ({**EXAMPLE.to_dict(), **change}, {"input": prompt_text("Hi"), "output": "x", **change}):
        corpus = _write(tmp_path / "c.jsonl", (json.dumps(record) + "\n").encode())
        with pytest.raises(CorpusError, match=pattern) as caught:
            read_corpus(corpus)
        assert caught.value.kind == kind


def test_unknown_shape_mentions_the_routing_keys(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", b'{"input": "x", "specialist": "ascii"}\n')
    with pytest.raises(
        CorpusError, match=r"keys \['input'\] match no known shape.*\['specialist', 'split'\]"
    ):
        read_corpus(corpus)
