"""Seeded source text of small HLXL programs (1-3 short statements) for the program task families."""

from __future__ import annotations

import random

PROGRAM_NAMES: tuple[str, ...] = ("demo", "calc", "main", "app", "job", "tool", "sum", "scan")
BLOCK_NAMES: tuple[str, ...] = ("run", "step", "init", "go", "f", "add", "tick", "load")
PARAMS: tuple[str, ...] = ("x", "y", "n", "a", "b", "v")
LOCALS: tuple[str, ...] = ("t", "r", "s", "k", "m", "i")
HANDLES: tuple[str, ...] = ("docs", "main", "data", "cache", "user", "node")
OPERATORS: tuple[str, ...] = ("+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&&", "||")


def _atom(rng: random.Random, names: list[str]) -> str:
    roll = rng.random()
    if roll < 0.45 and names:
        return rng.choice(names)
    if roll < 0.75:
        return str(rng.randint(0, 20))
    if roll < 0.85:
        return f'"{rng.choice(HANDLES)}"'
    if roll < 0.93:
        return f"&h_{rng.choice(HANDLES)}"
    return f"[{rng.randint(0, 9)}, {rng.randint(0, 9)}]"


def _expr(rng: random.Random, names: list[str]) -> str:
    if rng.random() < 0.4:
        return _atom(rng, names)
    operator = rng.choice(OPERATORS[:5] if rng.random() < 0.6 else OPERATORS)
    return f"{_atom(rng, names)} {operator} {_atom(rng, names)}"


def _condition(rng: random.Random, names: list[str]) -> str:
    left = rng.choice(names) if names else str(rng.randint(0, 9))
    return f"{left} {rng.choice(OPERATORS[5:11])} {rng.randint(0, 9)}"


def _main_statement(rng: random.Random, shape: str, names: list[str]) -> str:
    local = rng.choice(LOCALS)
    if shape == "let":
        return f"let {local} = {_expr(rng, names)};"
    if shape == "return":
        return f"return {_expr(rng, names)};"
    if shape == "if":
        otherwise = f" else {{ return {_atom(rng, names)}; }}" if rng.random() < 0.5 else ""
        return f"if ({_condition(rng, names)}) {{ return {_atom(rng, names)}; }}{otherwise}"
    if shape == "while":
        counter = rng.choice(names) if names else local
        body = "break;" if rng.random() < 0.3 else f"let {counter} = {counter} + 1;"
        return f"while ({counter} < {rng.randint(1, 9)}) {{ {body} }}"
    if shape == "pipe":
        param = rng.choice(("e", "w", "z"))
        pair = f"[{rng.randint(0, 9)}, {rng.randint(0, 9)}]"
        source = rng.choice(names) if names and rng.random() < 0.5 else pair
        return f"let {local} = {source} |> ({param}) {{ return {param} {rng.choice(OPERATORS[:3])} 2; }};"
    handle = rng.choice(HANDLES)
    return rng.choice((
        f"let {local} = ls.collapse {rng.choice(('tag', 'box', 'doc'))} {rng.randint(0, 99)};",
        f"let {local} = ls.resolve &h_{handle};",
        f"let {local} = ls.snapshot;",
        f"ls.transaction {{ let {local} = {rng.randint(0, 9)}; }};",
    ))


def program_source(rng: random.Random, shape: str) -> str:
    """HLXL source of one block with 1-3 statements, the named shape among them (see PROGRAM_SHAPES)."""
    params = rng.sample(PARAMS, rng.randint(0, 2))
    statements = [_main_statement(rng, shape, list(params))]
    extra = rng.choice((0, 0, 1, 1, 2))
    for _ in range(extra):
        if rng.random() < 0.5:
            statements.insert(0, f"let {rng.choice(LOCALS)} = {_expr(rng, list(params))};")
        elif not statements[-1].startswith("return"):
            statements.append(f"return {_atom(rng, list(params))};")
    body = " ".join(statements)
    return (f"program {rng.choice(PROGRAM_NAMES)} {{ block {rng.choice(BLOCK_NAMES)}({', '.join(params)}) "
            f"{{ {body} }} }}")
