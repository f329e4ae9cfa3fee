"""The AST of HLX programs (HLX_SPEC §3): frozen dataclasses, literals compared with strict value equality."""

from __future__ import annotations

from dataclasses import dataclass

from hlx.values import Contract, Handle, Record, Value, kind_of

BINARY_LEVELS: dict[str, int] = {
    "&&": 1, "||": 1, "==": 2, "!=": 2, "<": 3, ">": 3, "<=": 3, ">=": 3,
    "+": 4, "-": 4, "*": 5, "/": 5, "%": 5,
}


def value_key(value: Value) -> tuple[object, ...]:
    """A hashable key that two values share exactly when values_equal holds (1, 1.0 and True differ)."""
    kind = kind_of(value)
    if kind == "float":
        return (kind, repr(value))  # repr keeps -0.0 apart from 0.0
    if kind == "array":
        return (kind, *(value_key(item) for item in value))  # type: ignore[union-attr]
    if isinstance(value, Contract):
        return (kind, value.id, *((index, value_key(item)) for index, item in value.fields))
    if isinstance(value, Record):
        return (kind, *((key, value_key(item)) for key, item in value.entries))
    if isinstance(value, Handle):
        return (kind, value.name)
    return (kind, value)


@dataclass(frozen=True, eq=False)
class Literal:
    """A value literal, compared with the value model's strict equality."""

    value: Value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Literal) and value_key(self.value) == value_key(other.value)

    def __hash__(self) -> int:
        return hash(value_key(self.value))


@dataclass(frozen=True)
class Name:
    """A variable or parameter reference."""

    ident: str


@dataclass(frozen=True)
class Unary:
    """`!operand` or `-operand`."""

    op: str  # "!" or "-"
    operand: Expr


@dataclass(frozen=True)
class Binary:
    """`left op right` for the operators of BINARY_LEVELS."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    """`callee(args...)`."""

    callee: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Lambda:
    """`(params) { body }`, the right-hand side of `|>`."""

    params: tuple[str, ...]
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Pipe:
    """`source |> target`."""

    source: Expr
    target: Lambda


@dataclass(frozen=True)
class Collapse:
    """`ls.collapse [tag] operand`."""

    tag: str | None
    operand: Expr


@dataclass(frozen=True)
class Resolve:
    """`ls.resolve operand`."""

    operand: Expr


@dataclass(frozen=True)
class Snapshot:
    """`ls.snapshot`."""


@dataclass(frozen=True)
class Transaction:
    """`ls.transaction { body }`."""

    body: tuple[Stmt, ...]


Expr = Literal | Name | Unary | Binary | Call | Pipe | Collapse | Resolve | Snapshot | Transaction


@dataclass(frozen=True)
class Let:
    """`let name = value;`."""

    name: str
    value: Expr


@dataclass(frozen=True)
class Return:
    """`return value;`."""

    value: Expr


@dataclass(frozen=True)
class Break:
    """`break;`."""


@dataclass(frozen=True)
class If:
    """`if (condition) { then_body } [else { else_body }]`."""

    condition: Expr
    then_body: tuple[Stmt, ...]
    else_body: tuple[Stmt, ...] | None  # None: no else branch; (): an empty one


@dataclass(frozen=True)
class While:
    """`while (condition) { body }`."""

    condition: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class ExprStmt:
    """`expr;`."""

    expr: Expr


Stmt = Let | Return | Break | If | While | ExprStmt


@dataclass(frozen=True)
class Block:
    """`block name(params) { body }`."""

    name: str
    params: tuple[str, ...]
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Program:
    """`program name { blocks }`, the root of the AST."""

    name: str
    blocks: tuple[Block, ...]
