"""What one build of the shipped base depends on (shape, data, schedule); light, for the CLI's parser."""

from __future__ import annotations

from dataclasses import dataclass, field

from settings.model import SHIPPED_CORPORA, TinyModelSection

CORPORA = SHIPPED_CORPORA


@dataclass(frozen=True)
class BaseBuild:
    """Everything one build depends on; the same values give the same base, bit for bit on one machine."""

    shape: TinyModelSection = field(
        default_factory=lambda: TinyModelSection(
            hidden_size=128, intermediate_size=384, num_layers=4, num_heads=4, num_kv_heads=2, head_dim=32,
            max_position_embeddings=512, tokenizer_corpora=list(CORPORA),
        )
    )  # fmt: skip
    """The model's shape: builtin:tiny's architecture, tokenizer trained on the generated corpora."""
    size: int = 30000
    """Generated train records per corpus (the generator's val tenth is not used: see held_out)."""
    data_seed: int = 1
    """Seed of the generator; the shipped corpora use another (20240601); their val splits are held out."""
    seed: int = 0
    """Seed of the data order (the initial weights are seeded by shape.init_seed)."""
    epochs: int = 2
    """Passes over the three generated corpora together."""
    peak_lr: float = 2e-3
    """Peak of the warmup-then-cosine schedule (AdamW)."""
    micro_batch_size: int = 32
    """Examples per optimizer step."""
    threads: int = 1
    """torch threads; 0 keeps torch's default (every core). One is the default: on two shared cores a
    second thread waits on the first whenever another process runs, and steps got 5-20x slower."""


DEFAULT_BUILD = BaseBuild()
