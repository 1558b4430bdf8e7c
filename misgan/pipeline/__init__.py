"""misgan.pipeline.runner."""
