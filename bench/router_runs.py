"""The runs bench/router.py measures: tiny fixture adapters trained in seconds, or a synthetic `scale` base
with random LoRA adapters of a run's shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from control.run_files import PROMOTED_FILE
from fileio.atomic import write_json_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE_CORPUS = REPO_ROOT / "tests" / "training" / "fixtures" / "tiny_corpus"
SCRATCH_CONFIG = REPO_ROOT / "configs" / "scratch.yaml"
# The synthetic base: about 190M parameters, where weights, not the Python process, dominate memory.
SCALE_HIDDEN, SCALE_LAYERS, SCALE_VOCAB = 1024, 16, 8192


def write_promotion(run_dir: Path, base: Path, adapters: dict[str, Path]) -> None:
    """A promoted.json that serves `adapters` (track = name) on `base`."""
    specialists = {
        name: {
            "checkpoint": str(path.parent),
            "path": str(path),
            "phase": "main",
            "exact_match": None,
            "track": name,
            "method": "lora",
        }
        for name, path in adapters.items()
    }
    promoted = {"specialists": specialists, "coordinator": {"path": str(base), "kind": "base"}}
    write_json_atomic(run_dir / PROMOTED_FILE, promoted)


def fixture_run(work: Path) -> Path:
    """Train the foundation and ascii/runic LoRA specialists of the demo's builtin:tiny shape on the fixture
    corpus, and promote their last checkpoints."""
    from settings.recipe import config_from_dict
    from settings.run import RunConfig
    from training.recipe import train_specialist

    demo = yaml.safe_load(SCRATCH_CONFIG.read_text(encoding="utf-8"))
    corpus = str(FIXTURE_CORPUS)
    model = {**demo["model"], "tiny": {**demo["model"]["tiny"], "tokenizer_corpora": [corpus]}}
    data = {
        "run": {"name": "bench_router", "output_dir": str(work), "seed": 0},
        "model": model,
        "training": {
            **demo["training"],
            "micro_batch_size": 16,
            "eval_subset": 4,
            "eval_batch_size": 4,
            "max_new_tokens": 16,
            "checkpoint_every_epochs": 1,
            "eval_every_epochs": 1,
        },
        "foundation": {"corpus": corpus, "epochs": 2},
        "specialists": {
            t: {"corpus": corpus, "track": t, "phases": [{"name": "main", "epochs": 2}]}
            for t in ("ascii", "runic")
        },
    }
    config = config_from_dict(data, RunConfig)
    adapters = {}
    base = None
    for name in ("ascii", "runic"):
        result = train_specialist(config, name, progress=False)
        if result.final_checkpoint is None:
            raise RuntimeError(f"training the fixture specialist {name!r} ended {result.status}")
        adapters[name] = result.final_checkpoint / "adapter"
        base = result.base_model_dir
    assert base is not None
    (config.run_dir() / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    write_promotion(config.run_dir(), base, adapters)
    return config.run_dir()


def scale_run(work: Path, tokenizer_dir: Path, shape: dict[str, int], lora: dict[str, Any]) -> Path:
    """A random Qwen3 base of `shape` and two random (non-zero) LoRA adapters with the run's LoRA settings:
    random weights never emit EOS, so every answer runs to max_new_tokens (a decode-heavy load)."""
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from training.model import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
    config = Qwen3Config(
        **shape,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    base = work / "scale_base"
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    adapters = {}
    for seed, name in enumerate(("ascii", "runic"), start=1):
        torch.manual_seed(seed)
        peft_config = LoraConfig(
            r=lora["rank"],
            lora_alpha=lora["alpha"],
            target_modules=lora["target_modules"],
            init_lora_weights=False,
            task_type="CAUSAL_LM",
        )
        adapters[name] = work / "scale_adapters" / name / "adapter"
        with_adapter = get_peft_model(model, peft_config)
        with_adapter.save_pretrained(adapters[name])
        model = with_adapter.unload()  # the same base weights, without this adapter, for the next one
    write_promotion(work / "scale_run", base, adapters)
    return work / "scale_run"


def scale_shape(hidden: int, layers: int) -> dict[str, int]:
    """A Qwen3 shape: 64-wide heads (16 below width 256), 4 KV heads (1 below 256), an 8/3 x SwiGLU."""
    small = hidden < 256
    heads = max(2, hidden // (16 if small else 64))
    return {
        "vocab_size": SCALE_VOCAB,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": hidden * 8 // 3,
        "head_dim": 16 if small else 64,
        "num_attention_heads": heads,
        "num_key_value_heads": 1 if small or heads % 4 else 4,
    }


def lora_settings(run_dir: Path) -> dict[str, Any]:
    """The run's LoRA shape (config.yaml, else the demo's): rank, alpha, target modules."""
    from settings.recipe import LoraSection

    for source in (run_dir / "config.yaml", SCRATCH_CONFIG):
        if source.is_file():
            lora = (yaml.safe_load(source.read_text(encoding="utf-8")) or {}).get("model", {}).get("lora")
            if lora:
                return LoraSection(**lora).model_dump()
    return LoraSection().model_dump()
