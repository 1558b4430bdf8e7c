"""misgan.alignment."""
