"""Use a finished run: load it from its run dir, evaluate, generate and chat."""
