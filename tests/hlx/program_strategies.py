"""Hypothesis strategies for random valid HLXL programs; wraps the seeded generator in hlx.program_gen."""

from __future__ import annotations

from hypothesis import strategies as st

from hlx.program_gen import random_program


def programs(max_depth: int = 3) -> st.SearchStrategy[str]:
    """HLXL source of valid programs (random layout, comments, tricky names, strings and values)."""
    return st.builds(random_program, st.randoms(use_true_random=False), st.just(max_depth))
