"""The HLX toolkit: values, the four formats, programs, LS operations, corpus generator, answer checker."""
