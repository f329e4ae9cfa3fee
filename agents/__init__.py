"""Graders: the deterministic rubric, the evidence on a window of metrics, and the cheap-LLM grader on the
anthropic SDK, with its budget.

May import settings and fileio.
"""
