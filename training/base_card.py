"""The shipped base's model card: its shape, data, compute, curve and per-family grades, from its manifest."""

from __future__ import annotations

from typing import Any


def _pair(score: dict[str, Any]) -> str:
    return f"{score['exact_match']:.1%} | {score['format_validity']:.1%}"


def _grade_rows(grades: dict[str, Any]) -> list[str]:
    rows = ["| corpus | family | n | exact (free) | valid (free) | exact (grammar) | valid (grammar) |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for corpus, free in grades["free"].items():
        grammar = grades["grammar"][corpus]
        for task, score in free["per_task"].items():
            under = grammar["per_task"][task]
            rows.append(f"| {corpus} | {task} | {score['n']} | {_pair(score)} | {_pair(under)} |")
        rows.append(f"| {corpus} | **all** | {free['n']} | {_pair(free)} | {_pair(grammar)} |")
    return rows


def model_card(manifest: dict[str, Any]) -> str:
    """Markdown for models/hlx-base/README.md."""
    build = manifest["build"]
    shape = build["shape"]
    curve = "\n".join(
        f"| {point['epoch'] + 1} | {point['val_loss']:.4f} | "
        f"{'' if point['exact_match'] is None else format(point['exact_match'], '.1%')} |"
        for point in manifest["curve"]
    )
    return f"""# hlx-base: the built-in pretrained base (`base_model: builtin:hlx`)

A {manifest['parameters'] / 1e6:.2f}M-parameter Qwen3 causal LM with a {shape['vocab_size']}-token byte-level
BPE tokenizer, trained from random weights on the HLX family by this project's foundation recipe. Nights
use it as the coordinator and LoRA-tune the specialists on it, as the seeds do on Qwen3-1.7B.

- **Shape:** hidden {shape['hidden_size']}, MLP {shape['intermediate_size']}, {shape['num_layers']}
  layers, {shape['num_heads']} query / {shape['num_kv_heads']} key-value heads of {shape['head_dim']}, tied
  embeddings, {shape['max_position_embeddings']} positions.
- **Data:** `overnight corpus generate` at seed {build['data_seed']}, {build['size']} train records per corpus
  (general, ascii, runic; every response computed by the toolkit), minus every instruction of the shipped
  val splits (dropped: {manifest['held_out_dropped']}).
- **Training:** {build['epochs']} epochs, {manifest['steps']} AdamW steps of {build['micro_batch_size']},
  peak LR {build['peak_lr']} (cosine), seed {build['seed']}: {manifest['train_tokens']:,} tokens.
- **Compute:** {manifest['cpu_hours']} CPU-hours ({manifest['wall_hours']} h wall, {manifest['threads']} torch
  thread(s)), on the machine of the build.
- **Weights:** `model.safetensors`, sha256 `{manifest['weights_sha256']}` (checked when a config is loaded).

## Reproduce

```
{manifest['command']}
```

It rewrites this directory; the per-family figures come out within noise of these (greedy decoding on CPU is
deterministic for one machine and torch build).

## Learning curve (the general val subset of 96, after each epoch)

| epoch | val loss | exact match |
|---|---|---|
{curve}

## Grades on the shipped val splits

Every example, greedy; "grammar" decodes the value formats under their grammar.

{chr(10).join(_grade_rows(manifest['grades']))}
"""
