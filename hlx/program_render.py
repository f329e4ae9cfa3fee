"""Canonical source text of HLX programs on either track.

The layout, which `render_program(parse_program(x))` always produces:
- 4-space indentation, one statement per line, no blank lines, no comments, no trailing newline;
- a body opens on its header's line (`block f(a, b) {`, `if (c) {`, `} else {`, `while (c) {`,
  `(x) {` after `|>`, `ls.transaction {`) and closes on its own line; an empty body is `{}`;
- statements read `let x = 1;`, `return x;`, `break;`, `f(x);`;
- binary operators and `|>` have one space each side, unary `!`/`-` none, call arguments are
  separated by `, `; parentheses appear only where the AST needs them;
- `ls.collapse` and `ls.resolve` take everything to their right, so they are parenthesised whenever they are
  an operand, and an untagged `ls.collapse` parenthesises an operand that starts with a name (other than a
  bare name), which the parser would otherwise read as a tag;
- value literals are rendered in canonical HLXL (`{14: {@0: 1}}`, `&h_docs`);
- the HLX track is the HLXL rendering transliterated token by token (`⊢ x = 1;`, `⟁docs`).

A parsed AST never holds a negative number literal at expression level (`-1` parses as unary minus applied
to 1), so such a hand-built literal renders as text that parses back as the unary form.
"""

from __future__ import annotations

from hlx.hlxl import render as render_value
from hlx.lexer import check_track, respell
from hlx.program_ast import (
    BINARY_LEVELS,
    Binary,
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
)

INDENT = "    "
_PIPE_RANK = 0
_UNARY_RANK = 6
_ATOM_RANK = 7


def render_program(prog: Program, track: str = "hlxl") -> str:
    """Canonical source of `prog`: HLXL for track "hlxl", HLX (runic) for track "hlx"."""
    check_track(track)
    blocks = [
        f"{INDENT}block {block.name}({', '.join(block.params)}) {render_body(block.body, 1)}"
        for block in prog.blocks
    ]
    text = f"program {prog.name} {{\n" + "\n".join(blocks) + "\n}" if blocks else f"program {prog.name} {{}}"
    if track == "hlxl":
        return text
    runic = respell(text, "hlxl")
    if runic.error is not None:
        raise runic.error
    return runic.text


def render_body(statements: tuple[Stmt, ...], level: int) -> str:
    """`{}` or a brace-delimited body whose statements sit one level deeper than `level`."""
    if not statements:
        return "{}"
    lines = "\n".join(render_statement(statement, level + 1) for statement in statements)
    return "{\n" + lines + "\n" + INDENT * level + "}"


def render_statement(statement: Stmt, level: int) -> str:
    """One statement on its own line(s), indented to `level`."""
    pad = INDENT * level
    if isinstance(statement, Let):
        return f"{pad}let {statement.name} = {render_expr(statement.value, level)};"
    if isinstance(statement, Return):
        return f"{pad}return {render_expr(statement.value, level)};"
    if isinstance(statement, Break):
        return f"{pad}break;"
    if isinstance(statement, If):
        condition = render_expr(statement.condition, level)
        text = f"{pad}if ({condition}) {render_body(statement.then_body, level)}"
        if statement.else_body is not None:
            text += f" else {render_body(statement.else_body, level)}"
        return text
    if isinstance(statement, While):
        return f"{pad}while ({render_expr(statement.condition, level)}) {render_body(statement.body, level)}"
    if isinstance(statement, ExprStmt):
        return f"{pad}{render_expr(statement.expr, level)};"
    raise TypeError(f"{type(statement).__name__} is not a program statement")


def render_expr(expr: Expr, level: int) -> str:
    """An expression in a position that ends it (`;`, `,`, `)`), so it needs no parentheses itself."""
    if isinstance(expr, Literal):
        return render_value(expr.value)
    if isinstance(expr, Name):
        return expr.ident
    if isinstance(expr, Unary):
        return expr.op + _operand(expr.operand, level, _ATOM_RANK)
    if isinstance(expr, Binary):
        rank = BINARY_LEVELS[expr.op]
        left = _operand(expr.left, level, rank)
        return f"{left} {expr.op} {_operand(expr.right, level, rank + 1)}"
    if isinstance(expr, Call):
        args = ", ".join(render_expr(arg, level) for arg in expr.args)
        return f"{_operand(expr.callee, level, _ATOM_RANK)}({args})"
    if isinstance(expr, Pipe):
        return f"{_operand(expr.source, level, _PIPE_RANK)} |> {render_lambda(expr.target, level)}"
    if isinstance(expr, Collapse):
        operand = render_expr(expr.operand, level)
        if expr.tag is not None:
            return f"ls.collapse {expr.tag} {operand}"
        if _starts_with_name(expr.operand) and not isinstance(expr.operand, Name):
            operand = f"({operand})"
        return f"ls.collapse {operand}"
    if isinstance(expr, Resolve):
        return f"ls.resolve {render_expr(expr.operand, level)}"
    if isinstance(expr, Snapshot):
        return "ls.snapshot"
    if isinstance(expr, Transaction):
        return f"ls.transaction {render_body(expr.body, level)}"
    raise TypeError(f"{type(expr).__name__} is not a program expression")


def render_lambda(target: Lambda, level: int) -> str:
    """`(params) { ... }`, the right-hand side of a pipe."""
    return f"({', '.join(target.params)}) {render_body(target.body, level)}"


def _rank(expr: Expr) -> int:
    if isinstance(expr, Pipe):
        return _PIPE_RANK
    if isinstance(expr, Binary):
        return BINARY_LEVELS[expr.op]
    if isinstance(expr, Unary):
        return _UNARY_RANK
    return _ATOM_RANK


def _operand(expr: Expr, level: int, min_rank: int) -> str:
    """The expression as an operand that must bind at least as tightly as `min_rank`."""
    text = render_expr(expr, level)
    if isinstance(expr, (Collapse, Resolve)) or _rank(expr) < min_rank:
        return f"({text})"
    return text


def _starts_with_name(expr: Expr) -> bool:
    while isinstance(expr, (Binary, Call, Pipe)):
        if isinstance(expr, Binary):
            expr = expr.left
        else:
            expr = expr.callee if isinstance(expr, Call) else expr.source
    return isinstance(expr, Name)
