"""Intervention policies: pure functions from a trigger, history and limits to a decision."""
