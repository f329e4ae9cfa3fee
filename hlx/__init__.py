"""The HLX toolkit: values, the four formats, programs, LS operations, corpus generator, answer checker.

A leaf: imports nothing of ours (it is usable on its own, `overnight hlx`).
"""
