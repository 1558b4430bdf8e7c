"""misgan.data."""
