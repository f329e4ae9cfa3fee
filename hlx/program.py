"""HLX programs (HLX_SPEC §3): a recursive-descent parser for both tracks, rendering and comparison.

Where the grammar leaves a choice open, this parser decides (canon for the project):
- `-1` at expression level is unary minus applied to the literal 1; inside a value literal (`[-1]`) the sign
  belongs to the number;
- `ls.collapse NAME ...`: a name followed by a token that can start an expression is the tag, so
  `ls.collapse t x` tags x with t and `ls.collapse f(1)` tags (1) with f; write `ls.collapse (f(1))`;
- `{` or `[` where an expression is expected opens a value literal (record, contract or array);
- a program nests at most MAX_PROGRAM_DEPTH levels (E_DEPTH_EXCEEDED);
- on the runic track a value literal is HLXL with `⟁name` handles; hlx.transliterate has the spelling rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from hlx.errors import E_DEPTH_EXCEEDED, E_INVALID_CHAR, E_UNEXPECTED_TOKEN, HLXError
from hlx.hlxl import parse_hlxl_prefix
from hlx.lexer import (
    LS_KEYWORDS,
    RUNIC_OF,
    VALUE_WORDS,
    Respelled,
    Token,
    check_track,
    describe,
    next_token,
    respell,
    skip_trivia,
)
from hlx.program_ast import (
    BINARY_LEVELS,
    Binary,
    Block,
    Break,
    Call,
    Collapse,
    Expr,
    ExprStmt,
    If,
    Lambda,
    Let,
    Literal,
    Name,
    Pipe,
    Program,
    Resolve,
    Return,
    Snapshot,
    Stmt,
    Transaction,
    Unary,
    While,
    value_key,
)
from hlx.program_render import render_program
from hlx.values import Value

__all__ = [
    "BINARY_LEVELS", "MAX_PROGRAM_DEPTH", "Binary", "Block", "Break", "Call", "Collapse", "Expr", "ExprStmt",
    "If", "Lambda", "Let", "Literal", "Name", "Pipe", "Program", "Resolve", "Return", "Snapshot", "Stmt",
    "Transaction", "Unary", "While", "parse_program", "programs_equal", "render_program", "value_key",
]

# Nesting levels a program may use: bodies, parenthesised and argument expressions, and every operator or
# call in a chain each count one. It keeps parsing, rendering and comparing far from Python's recursion limit.
MAX_PROGRAM_DEPTH = 64


def parse_program(text: str, track: str = "hlxl") -> Program:
    """Parse an HLXL (track "hlxl") or HLX (track "hlx") program; raises HLXError at the first problem."""
    return _Parser(text, check_track(track)).program()


def programs_equal(a: str, b: str, track: str) -> bool:
    """True when both sources parse on `track` to the same AST; raises HLXError when either does not parse."""
    return parse_program(a, track) == parse_program(b, track)


_Item = TypeVar("_Item")


class _Parser:
    """Recursive descent over tokens pulled lazily, so errors come out in source order."""

    def __init__(self, text: str, track: str) -> None:
        self.text = text
        self.track = track
        # Value literals are parsed by the HLXL value parser, which reads ASCII: runic sources are respelled.
        self.ascii: Respelled | None = respell(text, "hlx") if track == "hlx" else None
        self.pos = 0
        self.level = 0
        self._lookahead: Token | None = None

    # -- tokens ---------------------------------------------------------------------------------------
    def peek(self) -> Token:
        if self._lookahead is None:
            self._lookahead = next_token(self.text, skip_trivia(self.text, self.pos), self.track)
        return self._lookahead

    def peek_second(self) -> Token:
        return next_token(self.text, skip_trivia(self.text, self.peek().end), self.track)

    def advance(self) -> Token:
        token = self.peek()
        self.pos, self._lookahead = token.end, None
        return token

    def at_op(self, op: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.value == op

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "keyword" and token.value == word

    def spell(self, word: str) -> str:
        return repr(RUNIC_OF[word] if self.track == "hlx" else word)

    def unexpected(self, token: Token, expected: str) -> HLXError:
        return HLXError.make(E_UNEXPECTED_TOKEN, token.offset,
                             f"unexpected {describe(token, self.text)}; expected {expected}")

    def expect_op(self, op: str, context: str) -> Token:
        if not self.at_op(op):
            raise self.unexpected(self.peek(), f"{op!r} {context}")
        return self.advance()

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise self.unexpected(self.peek(), self.spell(word))
        return self.advance()

    def ident(self, what: str) -> str:
        token = self.peek()
        if token.kind != "ident" or token.value in VALUE_WORDS:
            raise self.unexpected(token, what)
        return self.advance().value

    def comma_list(self, item: Callable[[], _Item], closer: str, context: str) -> tuple[_Item, ...]:
        items: list[_Item] = []
        if not self.at_op(closer):
            items.append(item())
            while self.at_op(","):
                self.advance()
                items.append(item())
        self.expect_op(closer, context)
        return tuple(items)

    # -- nesting --------------------------------------------------------------------------------------
    @contextmanager
    def nested(self) -> Iterator[None]:
        saved = self.level
        self.deeper()
        try:
            yield
        finally:
            self.level = saved

    def deeper(self) -> None:
        self.level += 1
        if self.level > MAX_PROGRAM_DEPTH:
            raise HLXError.make(E_DEPTH_EXCEEDED, self.peek().offset, f"program nests deeper than "
                                f"{MAX_PROGRAM_DEPTH} levels here; split the expression with let statements")

    # -- program structure ----------------------------------------------------------------------------
    def program(self) -> Program:
        self.expect_keyword("program")
        name = self.ident("a program name")
        self.expect_op("{", "to open the program")
        blocks: list[Block] = []
        while self.at_keyword("block"):
            blocks.append(self.block())
        self.expect_op("}", f"or {self.spell('block')} to close the program")
        if self.peek().kind != "eof":
            raise self.unexpected(self.peek(), "end of input after the program's closing '}'")
        return Program(name, tuple(blocks))

    def block(self) -> Block:
        self.advance()
        name = self.ident("a block name")
        self.expect_op("(", "after the block name")
        params = self.comma_list(lambda: self.ident("a parameter name"), ")", "to close the parameters")
        return Block(name, params, self.body())

    def body(self) -> tuple[Stmt, ...]:
        self.expect_op("{", "to open a body")
        statements: list[Stmt] = []
        with self.nested():
            while not self.at_op("}"):
                statements.append(self.statement())
            self.advance()
        return tuple(statements)

    def statement(self) -> Stmt:
        token = self.peek()
        if token.kind == "keyword" and token.value not in LS_KEYWORDS:
            return self.keyword_statement(token)
        if token.kind == "eof":
            raise self.unexpected(token, "a statement or '}'")
        expr = self.expr()
        self.expect_op(";", "after the expression statement")
        return ExprStmt(expr)

    def keyword_statement(self, token: Token) -> Stmt:
        word = token.value
        if word == "let":
            self.advance()
            name = self.ident(f"a variable name after {self.spell('let')}")
            self.expect_op("=", "after the variable name")
            value = self.expr()
            self.expect_op(";", "after the let statement")
            return Let(name, value)
        if word == "return":
            self.advance()
            value = self.expr()
            self.expect_op(";", "after the return statement")
            return Return(value)
        if word == "break":
            self.advance()
            self.expect_op(";", f"after {self.spell('break')}")
            return Break()
        if word in ("if", "while"):
            self.advance()
            self.expect_op("(", f"after {self.spell(word)}")
            condition = self.expr()
            self.expect_op(")", "to close the condition")
            body = self.body()
            if word == "while":
                return While(condition, body)
            otherwise = None
            if self.at_keyword("else"):
                self.advance()
                otherwise = self.body()
            return If(condition, body, otherwise)
        raise self.unexpected(token, "a statement or '}'")

    # -- expressions ----------------------------------------------------------------------------------
    def expr(self) -> Expr:
        with self.nested():
            expr = self.binary(1)
            while self.at_op("|>"):
                self.advance()
                self.deeper()
                expr = Pipe(expr, self.lambda_())
            return expr

    def lambda_(self) -> Lambda:
        self.expect_op("(", f"to open the parameters of the lambda after {describe_pipe(self.track)}")
        params = self.comma_list(lambda: self.ident("a parameter name"), ")", "to close the parameters")
        return Lambda(params, self.body())

    def binary(self, min_level: int) -> Expr:
        expr = self.unary()
        while True:
            token = self.peek()
            level = BINARY_LEVELS.get(token.value, 0) if token.kind == "op" else 0
            if level < min_level or level == 0:
                return expr
            self.advance()
            self.deeper()
            expr = Binary(token.value, expr, self.binary(level + 1))

    def unary(self) -> Expr:
        if self.at_op("!") or self.at_op("-"):
            op = self.advance().value
            self.deeper()
            return Unary(op, self.call())
        return self.call()

    def call(self) -> Expr:
        expr = self.primary()
        while self.at_op("("):
            self.advance()
            self.deeper()
            expr = Call(expr, self.comma_list(self.expr, ")", "to close the call's arguments"))
        return expr

    def primary(self) -> Expr:
        token = self.peek()
        if starts_literal(token):
            return self.literal()
        if token.kind == "ident":
            return Name(self.advance().value)
        if token.kind == "op" and token.value == "(":
            self.advance()
            expr = self.expr()
            self.expect_op(")", "to close the parenthesised expression")
            return expr
        if token.kind == "keyword" and token.value in LS_KEYWORDS:
            return self.ls_operation(self.advance().value)
        raise self.unexpected(token, "an expression")

    def ls_operation(self, word: str) -> Expr:
        if word == "ls.collapse":
            tag = None
            # `ls.collapse t x` tags x with t; a name followed by no expression is the collapsed operand.
            if self.peek().kind == "ident" and self.peek().value not in VALUE_WORDS \
                    and starts_expr(self.peek_second()):
                tag = self.advance().value
            return Collapse(tag, self.expr())
        if word == "ls.resolve":
            return Resolve(self.expr())
        if word == "ls.snapshot":
            return Snapshot()
        return Transaction(self.body())

    def literal(self) -> Literal:
        start = self.peek().offset
        try:
            value, end = self.parse_value(start)
        except HLXError as err:
            raise self.in_program_terms(err, start) from err
        self.check_value_span(start, end)
        self.pos, self._lookahead = end, None
        return Literal(value)

    def parse_value(self, start: int) -> tuple[Value, int]:
        if self.ascii is None:
            return parse_hlxl_prefix(self.text, start)
        view = self.ascii
        try:
            value, end = parse_hlxl_prefix(view.text, view.text_offsets[start])
        except HLXError as err:
            offset = view.source_offsets[min(max(err.offset, 0), len(view.text))]
            if view.error is not None and offset >= view.error.offset:
                raise view.error from err
            raise HLXError(err.code, err.name, offset, err.message) from err
        return value, view.source_offsets[end]

    def in_program_terms(self, err: HLXError, start: int) -> HLXError:
        """The value parser calls a character it cannot use invalid; a program may still allow it (`;`)."""
        if err.code != E_INVALID_CHAR or err.offset >= len(self.text):
            return err
        try:
            token = next_token(self.text, err.offset, self.track)
        except HLXError:
            return err  # the character is invalid in programs too (or sits inside a string)
        found = describe(token, self.text)
        return HLXError.make(E_UNEXPECTED_TOKEN, err.offset,
                             f"unexpected {found} inside the value literal opened at {start}")

    def check_value_span(self, start: int, end: int) -> None:
        """Lex the literal's text too, so every program that parses also transliterates token by token."""
        pos = start
        while pos < end:
            token = next_token(self.text, skip_trivia(self.text, pos), self.track)
            if token.offset >= end:
                return
            if token.end > end:
                raise HLXError.make(E_UNEXPECTED_TOKEN, end, f"the value literal at {start} ends inside "
                                    f"{describe(token, self.text)}; separate the tokens with a space")
            pos = token.end


def starts_literal(token: Token) -> bool:
    """True when the token opens a value literal: a number, string, bytes, handle, [ or {, true/false/null."""
    return (token.kind in ("number", "bytes", "string", "handle")
            or (token.kind == "ident" and token.value in VALUE_WORDS)
            or (token.kind == "op" and token.value in ("[", "{")))


def starts_expr(token: Token) -> bool:
    """True when an expression can begin with the token."""
    return (token.kind in ("number", "bytes", "string", "handle", "ident")
            or (token.kind == "op" and token.value in ("[", "{", "(", "!", "-"))
            or (token.kind == "keyword" and token.value in LS_KEYWORDS))


def describe_pipe(track: str) -> str:
    return "'▷'" if track == "hlx" else "'|>'"
