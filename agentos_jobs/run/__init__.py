"""A run: the doit tasks dodo.py exposes, the reporter shim, the run controller, progress and the summary."""
