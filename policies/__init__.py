"""Intervention policies: pure functions from a trigger, history and limits to a decision; the decision
log's format.

May import agents, settings and fileio.
"""
