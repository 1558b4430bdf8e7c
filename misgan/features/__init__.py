"""misgan.features."""
