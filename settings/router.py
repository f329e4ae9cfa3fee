"""The `router` section: how a run's experts are served (answer lengths, prompt cap, batching, device)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from settings.base import StrictModel

DEFAULT_MAX_NEW_TOKENS_LIMIT = 512


class RouterSection(StrictModel):
    """Read by `overnight ask`, `overnight serve` and the router of `overnight run --watch` from the run's
    config.yaml; `resources.router_num_gpus` is the router's GPU share."""

    default_max_new_tokens: int | None = Field(None, ge=1)
    """Answer length (tokens) when a request gives none; None: training.max_new_tokens."""
    max_new_tokens_limit: int | None = Field(None, ge=1)
    """Longest answer a request may ask for; None: 512, or the default answer length when that is more.
    Must be at least the default answer length."""
    max_prompt_chars: int = Field(8000, ge=1)
    """Longer prompts are refused (HTTP 413); the HTTP body cap follows from it."""
    batch_max_size: int = Field(32, ge=1)
    """Requests generated together; the router actor and the HTTP replica admit two batches at once."""
    batch_wait_ms: float = Field(5.0, ge=0)
    """How long a batch waits for more requests once its first one arrived."""
    strategy: Literal["mixed", "group"] = "mixed"
    """mixed: one generate call per batch with peft's per-row adapter names; group: one call per expert
    (bench/router.py measures both; mixed won)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Compute dtype: auto = bfloat16 on a CUDA GPU that supports it, float32 otherwise."""
    device: str | None = None
    """torch device, e.g. `cuda:0` or `cpu`; None: the GPU when there is one."""
    torch_threads: int | None = Field(None, ge=1)
    """torch CPU threads; None keeps torch's default (1 is fastest on a busy shared CPU)."""
    constrained_decoding: bool = True
    """Decode answers in a value format (HLXL, LC-T, LC-R, LC-B) under that format's grammar
    (training.constrained), so every such answer parses whatever the weights; the `valid` flag still checks
    each answer. Other formats (free text, diagnostics, programs) decode freely. Off: every answer decodes
    freely, as before grammars existed (what `training.constrained_decoding` is for the evaluation)."""

    def settings_for(self, training_max_new_tokens: int) -> dict[str, Any]:
        """The router's settings (serving.routing.RouterSettings fields), with the answer lengths resolved:
        the default is training.max_new_tokens unless set, and the limit at least that default."""
        default = self.default_max_new_tokens or training_max_new_tokens
        limit = self.max_new_tokens_limit or max(DEFAULT_MAX_NEW_TOKENS_LIMIT, default)
        resolved = self.model_dump()
        resolved.update(default_max_new_tokens=default, max_new_tokens_limit=limit)
        return resolved
