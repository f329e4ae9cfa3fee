"""What a night shows: the morning report, its plots and tables, status text, notifications, and the
metrics table.

May import settings, agents, policies and control; never actors, serving or cli.
"""
