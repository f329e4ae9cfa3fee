"""One config tree, loaded from YAML and validated once: `settings.run.RunConfig` (`load_run_config`).

Its sections, one module each: recipe (run, foundation, specialists, the loaders), model, training, grader
(watchdog, grader), policies, notify, router, run (resources, supervisor, inbox, the whole tree); errors
turns every problem into one ConfigError.

A leaf: imports nothing of ours but itself (and hlx).
"""
