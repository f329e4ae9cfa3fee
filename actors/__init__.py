"""The Ray layer: the supervisor, trainer, watchdog and router actors, the Ray Serve app, Ray metrics, and
the plumbing that makes plain classes remote (remote.py).

The only package, with cli/, that imports ray. May import every package but cli.
"""

# training/__init__.py quiets bitsandbytes' CPU 4-bit warning; a Ray worker unpickling an actor loads this
# package first, before any module of it imports peft.
import training  # noqa: F401
