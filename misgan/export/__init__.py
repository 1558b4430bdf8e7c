"""Deployment: `misgan export` (a self-contained model bundle from an augment run) and `misgan predict`."""
