"""Parameters of a served model: the shared base's and each loaded adapter's (what a specialist costs)."""

from __future__ import annotations

from typing import Any

from peft import PeftModel


def parameter_counts(model: Any) -> dict[str, Any]:
    """{"base": n, "adapters": {name: n}}: a parameter belongs to the adapter its name holds. Call with
    the router's model lock held (an adapter load changes the parameters)."""
    adapters: dict[str, int] = {}
    base = 0
    names = list(model.peft_config) if isinstance(model, PeftModel) else []
    for key, parameter in model.named_parameters():
        owner = next((name for name in names if f".{name}." in key), None)
        if owner is None:
            base += parameter.numel()
        else:
            adapters[owner] = adapters.get(owner, 0) + parameter.numel()
    return {"base": base, "adapters": adapters}
