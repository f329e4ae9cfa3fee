"""Ray actors: trainer, watchdog, supervisor and router; plain classes made remote in one place."""

import logging

# peft imports bitsandbytes, which warns at import, on CPUs with AVX512-BF16, that its optional CPU 4-bit
# kernel is missing. 4-bit is qlora's, CUDA-only here, so the message only confuses; quiet it before any
# actor module (a Ray worker unpickling the router, say) imports peft. training/__init__.py does the same.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
