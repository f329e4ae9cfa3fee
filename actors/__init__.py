"""Ray actors: trainer, watchdog, supervisor and router; plain classes made remote in one place."""
