"""The shipped base's model card, rendered from a hand-written manifest."""

from __future__ import annotations

from training.base_card import model_card


def _grades(exact: float, valid: float) -> dict[str, object]:
    return {"n": 20, "exact_match": exact, "format_validity": valid,
            "per_task": {"convert": {"n": 20, "exact_match": exact, "format_validity": valid}}}  # fmt: skip


MANIFEST = {
    "parameters": 918_912,
    "build": {"size": 30000, "data_seed": 1, "seed": 0, "epochs": 2, "peak_lr": 0.002, "micro_batch_size": 32,
              "shape": {"vocab_size": 1024, "hidden_size": 128, "intermediate_size": 384, "num_layers": 4,
                        "num_heads": 4, "num_kv_heads": 2, "head_dim": 32, "max_position_embeddings": 512}},
    "held_out_dropped": {"ascii_specialist": 42},
    "steps": 5616,
    "train_tokens": 11_904_014,
    "cpu_hours": 0.644,
    "wall_hours": 0.734,
    "threads": 1,
    "weights_sha256": "ab" * 32,
    "command": "overnight base build",
    "curve": [{"epoch": 0, "val_loss": 0.33269, "exact_match": 0.65625}, {"epoch": 1, "val_loss": 0.18192,
                                                                         "exact_match": None}],
    "grades": {"free": {"ascii_specialist": _grades(0.95, 0.95)},
               "grammar": {"ascii_specialist": _grades(0.95, 1.0)}},
}  # fmt: skip


def test_the_card_states_the_shape_compute_curve_and_grades() -> None:
    card = model_card(MANIFEST)
    assert card.startswith("# hlx-base: the built-in pretrained base (`base_model: builtin:hlx`)")
    assert "A 0.92M-parameter Qwen3 causal LM with a 1024-token" in card
    assert "seed 0: 11,904,014 tokens." in card
    assert "0.644 CPU-hours (0.734 h wall, 1 torch" in card
    assert f"sha256 `{'ab' * 32}`" in card
    assert "| 1 | 0.3327 | 65.6% |" in card
    assert "| 2 | 0.1819 |  |" in card  # no exact match measured: an empty cell, not 0%
    assert "| ascii_specialist | convert | 20 | 95.0% | 95.0% | 95.0% | 100.0% |" in card
    assert "| ascii_specialist | **all** | 20 | 95.0% | 95.0% | 95.0% | 100.0% |" in card
    assert "```\novernight base build\n```" in card
