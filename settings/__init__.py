"""One config tree, loaded from YAML: recipe, watchdog, grader, policies, resources, inbox, router, notify.

A leaf: imports nothing of ours but itself (and hlx).
"""
