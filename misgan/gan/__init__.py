"""misgan.gan.train."""
