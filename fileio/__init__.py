"""Files on disk: written whole (a reader sees the old content or the new, never half of either), and their
sha256.

A leaf: imports nothing of ours; every package may import it.
"""
