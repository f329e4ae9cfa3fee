"""The training recipe, with no Ray in it: model, data, loop, evaluation and checkpoints.

May import settings, hlx and fileio.
"""

import logging

# bitsandbytes warns at import that an optional CPU kernel is missing; 4-bit is CUDA-only here anyway.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
