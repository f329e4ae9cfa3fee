"""Seeded random valid HLXL programs, laid out at random, with comments and strings full of keywords/glyphs.

The programs stress what transliteration and parsing must get right: names that contain keywords (`blocker`,
`lettuce`), record keys and handles named like keywords (`{let: 1}`, `&h_if`), strings and comments holding
HLXL keywords and HLX glyphs, tokens glued together where the lexer allows it (`x&&&h_y`, `f(a,b)`).
"""

from __future__ import annotations

import itertools
import json
import random

NAMES: tuple[str, ...] = (
    "x", "y", "n", "acc", "blocker", "lettuce", "iffy", "returned", "elsewhere", "whileaway", "breakfast",
    "programme", "ls", "ls_collapse", "h_docs", "letx", "_if", "Else", "LET", "snapshot", "nulls", "nan",
)
KEYWORDISH_KEYS: tuple[str, ...] = ("let", "if", "block", "program", "name", "age", "ls", "else", "while_")
HANDLE_NAMES: tuple[str, ...] = ("docs", "let", "if", "main", "_x", "h_", "ls", "block9")
TRICKY_TEXT: tuple[str, ...] = (
    "let ⊢ return ↩", "|> ▷ &h_docs ⟁docs", "// not a comment", "ls.collapse ⚳ ls.transaction ⚿", "a\"b",
    "back\\slash", "line\nbreak", "❓❗⟳⌿◇⟠", "é ü 🐊🐁🐂", "", "program main { }",
)
COMMENTS: tuple[str, ...] = (
    "// plain", "// let ⊢ |> ▷ &h_x ⟁x", '// "unterminated', "//", "// ls.snapshot ⚶ if ❓ else ❗",
    "//// /* */", "// 🐊 ∅ ⊤",
)
BINARY_OPS: tuple[str, ...] = ("+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&&", "||")
_OP_CHARS = "=!<>&|/-+*%"
_GLUE_SAFE = "(){}[],;"


def random_program(rng: random.Random, max_depth: int = 3) -> str:
    """HLXL source of one valid program; nesting stays within `max_depth` levels of bodies and expressions."""
    gen = _Generator(rng)
    out = ["program", rng.choice(NAMES), "{"]
    for _ in range(rng.randint(0, 3)):
        params = rng.sample(NAMES, rng.randint(0, 3))
        out += ["block", rng.choice(NAMES), "(", *_commas(params), ")"]
        out += gen.body(max_depth)
    out.append("}")
    return gen.layout(out)


def _commas(items: list[str]) -> list[str]:
    tokens: list[str] = []
    for i, item in enumerate(items):
        tokens += [","] * (i > 0) + [item]
    return tokens


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # -- layout ---------------------------------------------------------------------------------------
    def layout(self, tokens: list[str]) -> str:
        rng = self.rng
        pieces = [self.separator(must_separate=False) if rng.random() < 0.3 else ""]
        for before, after in itertools.pairwise(tokens):
            pieces += [before, self.separator(not _may_glue(before, after))]
        pieces.append(tokens[-1])
        if rng.random() < 0.3:
            pieces.append(rng.choice(("\n", " ", " " + rng.choice(COMMENTS))))
        return "".join(pieces)

    def separator(self, must_separate: bool) -> str:
        roll = self.rng.random()
        if roll < 0.35 and not must_separate:
            return ""
        if roll < 0.75:
            return " "
        if roll < 0.85:
            return self.rng.choice(("\n", "\n    ", "\t", "\r\n", "  "))
        return " " + self.rng.choice(COMMENTS) + "\n" + self.rng.choice(("", "  "))

    # -- statements -----------------------------------------------------------------------------------
    def body(self, depth: int) -> list[str]:
        tokens = ["{"]
        for _ in range(self.rng.randint(0, 3 if depth > 0 else 1)):
            tokens += self.statement(depth - 1)
        return [*tokens, "}"]

    def statement(self, depth: int) -> list[str]:
        roll = self.rng.random()
        if roll < 0.3:
            return ["let", self.rng.choice(NAMES), "=", *self.expr(depth), ";"]
        if roll < 0.45:
            return ["return", *self.expr(depth), ";"]
        if roll < 0.5:
            return ["break", ";"]
        if roll < 0.65 and depth > 0:
            tokens = ["if", "(", *self.expr(depth), ")", *self.body(depth)]
            return tokens + (["else", *self.body(depth)] if self.rng.random() < 0.5 else [])
        if roll < 0.75 and depth > 0:
            return ["while", "(", *self.expr(depth), ")", *self.body(depth)]
        return [*self.expr(depth), ";"]

    # -- expressions ----------------------------------------------------------------------------------
    def expr(self, depth: int, allow_pipe: bool = True) -> list[str]:
        """A full expression; a pipe may only appear where nothing but a closer follows it."""
        rng = self.rng
        if depth <= 0:
            return self.atom()
        roll = rng.random()
        if roll < 0.3:
            return [*self.expr(depth - 1, False), rng.choice(BINARY_OPS), *self.expr(depth - 1, allow_pipe)]
        if roll < 0.4 and allow_pipe:
            params = rng.sample(NAMES, rng.randint(0, 2))
            return [*self.expr(depth - 1, False), "|>", "(", *_commas(params), ")", *self.body(depth - 1)]
        if roll < 0.5:
            operand = self.expr(depth - 1, allow_pipe)
            if rng.random() < 0.5:
                return ["ls.collapse", rng.choice(NAMES), *operand]
            if operand[0] in NAMES:  # `ls.collapse f(x)` would read f as the tag
                operand = ["(", *operand, ")"]
            return ["ls.collapse", *operand]
        if roll < 0.55:
            return ["ls.resolve", *self.expr(depth - 1, allow_pipe)]
        if roll < 0.6:
            return ["ls.transaction", *self.body(depth - 1)]
        if roll < 0.7:
            return [rng.choice(("!", "-")), *self.primary(depth - 1)]
        return self.primary(depth)

    def primary(self, depth: int) -> list[str]:
        """A call-level expression: it can follow a unary operator."""
        rng = self.rng
        roll = rng.random()
        if depth <= 0 or roll < 0.4:
            return self.atom()
        if roll < 0.55:
            return ["(", *self.expr(depth - 1), ")"]
        if roll < 0.6:
            return ["ls.snapshot"]
        callee = [rng.choice(NAMES)] if rng.random() < 0.8 else ["(", *self.expr(depth - 1), ")"]
        args: list[str] = []
        for i in range(rng.randint(0, 3)):
            args += [","] * (i > 0) + self.expr(depth - 1)
        return [*callee, "(", *args, ")"]

    def atom(self) -> list[str]:
        if self.rng.random() < 0.4:
            return [self.rng.choice(NAMES)]
        return [self.value(depth=2, top=True)]

    # -- value literals (one token each, spaced at random inside) --------------------------------------
    def value(self, depth: int, top: bool = False) -> str:
        rng = self.rng
        roll = rng.random()
        if depth <= 0 or roll < 0.5:
            return self.scalar(top)
        comma = rng.choice((", ", ",", " , "))
        colon = rng.choice((": ", ":", " : "))
        count = rng.randint(0, 3)
        if roll < 0.7:
            return "[" + comma.join(self.value(depth - 1) for _ in range(count)) + "]"
        if roll < 0.85:
            indices = sorted(rng.sample(range(10), count))
            fields = comma.join(f"@{i}{colon}{self.value(depth - 1)}" for i in indices)
            return f"{{{rng.randint(0, 1000)}{colon}{{{fields}}}}}"
        keys = rng.sample(KEYWORDISH_KEYS, count)
        return "{" + comma.join(f"{key}{colon}{self.value(depth - 1)}" for key in keys) + "}"

    def scalar(self, top: bool) -> str:
        rng = self.rng
        roll = rng.random()
        sign = "" if top or rng.random() < 0.7 else "-"
        if roll < 0.1:
            return rng.choice(("null", "true", "false"))
        if roll < 0.3:
            return sign + str(rng.randint(0, 10**6))
        if roll < 0.4:
            return sign + repr(rng.choice((0.0, 1.5, 2.25e-7, 3.0e21, round(rng.uniform(0, 100), 3))))
        if roll < 0.7:
            return json.dumps(rng.choice(TRICKY_TEXT), ensure_ascii=rng.random() < 0.3)
        if roll < 0.8:
            return "0x" + "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(2 * rng.randint(0, 3)))
        return "&h_" + rng.choice(HANDLE_NAMES)


def _may_glue(before: str, after: str) -> bool:
    """True when the two tokens lex the same written with nothing between them."""
    if before[-1] in _GLUE_SAFE or after[0] in _GLUE_SAFE:
        return True
    if _is_word_char(before[-1]) and _is_word_char(after[0]):
        return False
    if before[-1] in _OP_CHARS and after[0] in _OP_CHARS:
        return after.startswith("&h_")  # `&&&h_x` lexes as `&&` then the handle, in both tracks
    return True


def _is_word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")
