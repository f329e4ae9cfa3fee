"""Graders: the deterministic rubric and the cheap-LLM grader on the anthropic SDK."""
