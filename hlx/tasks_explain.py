"""Task maker for explaining a contract value field by field with the HLX_SPEC §4 names (hlx.ls.CONTRACTS)."""

from __future__ import annotations

import random

from hlx.formats import render
from hlx.ls import CONTRACTS, contract_name, field_name
from hlx.tasks_common import Draft, known_contract

EXPLAIN_SHAPES: tuple[str, ...] = tuple(f"contract {contract_id}" for contract_id in CONTRACTS)


def explain_contract(contract_id: int, fields: tuple[tuple[int, object], ...]) -> str:
    """'contract 900 VulkanShader: @0 shader binary handle = &h_docs, @1 entry point = "main", ...'."""
    parts = []
    for index, field in fields:
        label = field_name(contract_id, index)
        named = f" {label}" if label else ""
        parts.append(f"@{index}{named} = {render(field, 'hlxl')}")  # type: ignore[arg-type]
    body = ", ".join(parts) if parts else "no fields"
    return f"contract {contract_id} {contract_name(contract_id)}: {body}"


def make_explain(rng: random.Random, shape: str) -> Draft:
    """'Explain contract: <HLXL contract>' answered with each field's §4 name and value."""
    contract_id = int(shape.removeprefix("contract "))
    contract = known_contract(rng, contract_id)
    answer = explain_contract(contract.id, contract.fields)
    return Draft(f"Explain contract: {render(contract, 'hlxl')}", answer, "explain", "text", shape, "general")
