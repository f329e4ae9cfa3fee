"""The six LS operations of HLX_SPEC §6 on values: diagnose, hover, complete, rename, format, infer.

Every operation takes the value's text and its format name (hlxl, lc-t, lc-r, lc-b; case-insensitive) and
returns one deterministic string; the corpus generator uses these strings verbatim as training answers.
"""

from __future__ import annotations

from hlx import lcb
from hlx.errors import HLXError
from hlx.formats import TEXT_SYNTAXES, normalize_format, parse, render
from hlx.hlxl import Span, TextParser
from hlx.values import Contract, Handle, Record, Value, is_identifier, kind_of

# HLX_SPEC §4: contract id -> (name, field names by index). Contract 1000 names @1 and on "argument <i>".
CONTRACTS: dict[int, tuple[str, dict[int, str]]] = {
    14: ("Int box", {0: "int"}),
    16: ("Text box", {0: "text"}),
    800: ("LatentHandle", {0: "id", 1: "tag", 2: "fingerprint"}),
    820: ("LSOp", {0: "op code", 1: "table", 2: "handle", 3: "value", 4: "tag", 5: "flags"}),
    900: ("VulkanShader", {0: "shader binary handle", 1: "entry point", 2: "stage"}),
    901: ("VulkanPipeline", {0: "shader handle", 1: "layout handle"}),
    902: (
        "VulkanDispatch",
        {0: "pipeline", 1: "workgroup count X", 2: "workgroup count Y", 3: "workgroup count Z"},
    ),
    1000: ("General operation", {0: "operation name"}),
}


def contract_name(contract_id: int) -> str | None:
    """The §4 name of a contract id (e.g. 900 -> "VulkanShader"), None for ids the spec does not list."""
    known = CONTRACTS.get(contract_id)
    return known[0] if known else None


def field_name(contract_id: int, index: int) -> str | None:
    """The §4 name of a field (e.g. 900, 2 -> "stage"; 1000, 3 -> "argument 3"), None when not listed."""
    if contract_id == 1000 and index >= 1:
        return f"argument {index}"
    known = CONTRACTS.get(contract_id)
    return known[1].get(index) if known else None


def diagnose(text: str, fmt: str) -> str:
    """`OK` when `text` is a valid value in `fmt`, else its first error `E_NAME (code) at <offset>: <reason>`.

    Offsets are characters for the text formats and bytes for LC-B (written as hex).
    """
    try:
        parse(text, fmt)
    except HLXError as err:
        return str(err)
    return "OK"


def hover(text: str, offset: int, fmt: str) -> str:
    """Describe the innermost value whose text covers character `offset` (hlxl, lc-t or lc-r).

    Shapes (values rendered canonically in `fmt`, except null and bools which read the same in every format):
    - a contract field, from its `@` / `🐁` / index to the end of its value:
      `contract 900 VulkanShader, field @2 stage = "compute"`; without §4 names:
      `contract 77, field @1 = 5` or `contract 900 VulkanShader, field @7 = 5`;
    - a record entry, from its key to the end of its value: `record entry name = "A"`;
    - otherwise the value itself: `null`, `bool true`, `int 123`, `float 3.5`, `text "hi"`, `bytes 0xDEAD`,
      `handle docs`, `array of 2 elements`, `record with 1 entry`, `contract 900 VulkanShader with 3 fields`,
      `contract 77 with 0 fields`;
    - whitespace outside the value: `nothing at offset <offset>`.
    Raises HLXError for an invalid input and ValueError for an offset outside the text or for lc-b.
    """
    fmt = _text_format(fmt, "hover")
    if not 0 <= offset < len(text):
        raise ValueError(f"offset {offset} is outside the text (0..{len(text) - 1})")
    spans: list[Span] = []
    TextParser(TEXT_SYNTAXES[fmt], text, spans).parse_document()
    covering = [span for span in spans if span.start <= offset < span.end]
    if not covering:
        return f"nothing at offset {offset}"
    span = max(covering, key=lambda candidate: candidate.depth)
    if span.label is None:
        return describe(span.value, fmt)
    kind, owner, item = span.label
    shown = render(span.value, fmt)
    if kind == "entry":
        return f"record entry {owner} = {shown}"
    name, label = contract_name(owner), field_name(owner, item)  # type: ignore[arg-type]
    return f"contract {owner}{_named(name)}, field @{item}{_named(label)} = {shown}"


def describe(value: Value, fmt: str) -> str:
    """One value in hover's words, e.g. `int 123`, `handle docs`, `array of 2 elements` (see hover)."""
    kind = kind_of(value)
    if isinstance(value, list):
        return f"array of {_count(len(value), 'element', 'elements')}"
    if isinstance(value, Record):
        return f"record with {_count(len(value.entries), 'entry', 'entries')}"
    if isinstance(value, Contract):
        fields = _count(len(value.fields), "field", "fields")
        return f"contract {value.id}{_named(contract_name(value.id))} with {fields}"
    if isinstance(value, Handle):
        return f"handle {value.name}"
    if value is None or isinstance(value, bool):
        return "null" if value is None else f"bool {str(value).lower()}"  # the same words in every format
    return f"{kind} {render(value, fmt)}"


def _named(name: str | None) -> str:
    return f" {name}" if name else ""


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def complete(text: str, fmt: str) -> str:
    """The cut-short `text` plus the closers that finish it: `]`/`}`/`}}`, `🐄`/`🐂`/`◆`, a closing quote,
    or LC-B end tags (` 06`, ` 08`, ` 0D`). A complete input comes back unchanged.

    Raises the input's HLXError when closers alone cannot finish it (cut after a `,` or `:`, inside a
    keyword, a number's fraction, an escape or an LC-B payload, or a real error earlier on).
    """
    fmt = normalize_format(fmt)
    if fmt == "lc-b":
        decoder = lcb.Decoder(lcb.from_hex(text))
        try:
            decoder.decode_document()
            return text
        except HLXError as err:
            if not decoder.open_ends:
                raise
            candidates, original = [" " + lcb.to_hex(bytes(reversed(decoder.open_ends)))], err
            text = text.rstrip()
    else:
        parser = TextParser(TEXT_SYNTAXES[fmt], text)
        try:
            parser.parse_document()
            return text
        except HLXError as err:
            candidates, original = _closer_candidates(parser), err
    for candidate in candidates:
        if diagnose(text + candidate, fmt) == "OK":
            return text + candidate
    raise original


def _closer_candidates(parser: TextParser) -> list[str]:
    """Closer strings to try, longest first: a multi-token closer (HLXL `}}`) may already be half written."""
    quote = '"' if parser.unterminated_string else ""
    closers = parser.open_closers[::-1]
    if not closers:
        return [quote] if quote else []
    rest = "".join(closers[1:])
    return [quote + closers[0][cut:] + rest for cut in range(len(closers[0]))]


def rename(text: str, old: str, new: str, fmt: str) -> str:
    """The canonical text (same format) of the value with every handle named `old` renamed to `new`.

    Record keys and text that merely spell `old` are untouched. ValueError when `new` is not an identifier.
    """
    if not is_identifier(new):
        raise ValueError(f"new handle name {new!r} must match [A-Za-z_][A-Za-z0-9_]*")
    return render(_rename_handles(parse(text, fmt), old, new), fmt)


def _rename_handles(value: Value, old: str, new: str) -> Value:
    if isinstance(value, Handle):
        return Handle(new) if value.name == old else value
    if isinstance(value, list):
        return [_rename_handles(item, old, new) for item in value]
    if isinstance(value, Contract):
        return Contract(value.id, tuple((i, _rename_handles(item, old, new)) for i, item in value.fields))
    if isinstance(value, Record):
        return Record(tuple((key, _rename_handles(item, old, new)) for key, item in value.entries))
    return value


def format(text: str, fmt: str) -> str:  # the spec names the operation "format"
    """The input rewritten in its format's canonical spacing (LC-B: upper-case hex, single spaces)."""
    return render(parse(text, fmt), fmt)


def infer(text: str, fmt: str) -> str:
    """The kind of the value: `null`, `bool`, `int`, `float`, `text`, `bytes`, `handle`, or for containers
    `array[int, text]` (distinct element kinds, first-seen order; `array[]` when empty),
    `record {name: text, age: int}` (`record {}`), `contract 1000 [text, handle, handle]` (field kinds in
    index order; when the indices are not exactly 0..n-1 each is labelled: `contract 7 [@0: int, @5: text]`).
    Nested kinds are written the same way, e.g. `array[array[int]]`.
    """
    return kind_description(parse(text, fmt))


def kind_description(value: Value) -> str:
    """The infer string of a value (see infer)."""
    if isinstance(value, list):
        kinds = dict.fromkeys(kind_description(item) for item in value)
        return f"array[{', '.join(kinds)}]"
    if isinstance(value, Record):
        return "record {" + ", ".join(f"{key}: {kind_description(item)}" for key, item in value.entries) + "}"
    if isinstance(value, Contract):
        contiguous = [index for index, _ in value.fields] == list(range(len(value.fields)))
        fields = [
            kind_description(item) if contiguous else f"@{index}: {kind_description(item)}"
            for index, item in value.fields
        ]
        return f"contract {value.id} [{', '.join(fields)}]"
    return kind_of(value)


def _text_format(fmt: str, operation: str) -> str:
    fmt = normalize_format(fmt)
    if fmt not in TEXT_SYNTAXES:
        raise ValueError(f"{operation} works on character offsets: use hlxl, lc-t or lc-r, not {fmt}")
    return fmt
