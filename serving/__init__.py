"""Serving, with no Ray in it: the router (base model + LoRA adapters), routing rules, batching, streaming,
the OpenAI-compatible HTTP shapes and the HTTP guard.

May import settings, hlx, training, control (run files), report (metric samples) and fileio; never actors
or cli.
"""

# training/__init__.py quiets bitsandbytes' CPU 4-bit warning; load it before serving.router imports peft.
import training  # noqa: F401
