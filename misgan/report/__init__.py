"""misgan.report.build."""
