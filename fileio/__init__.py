"""Files written whole: a reader sees the old content or the new, never half of either.

A leaf: imports nothing of ours; every package may import it.
"""
