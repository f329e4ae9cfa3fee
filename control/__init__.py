"""The control of a night, with no Ray in it: the supervisor's state and decisions, the job queue and inbox,
the decision book, run state, promotion, and the run directory's files.

May import settings, hlx, training (pure parts), agents and policies; never actors, serving, report or cli.
"""
