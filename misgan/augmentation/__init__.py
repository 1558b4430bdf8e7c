"""misgan.augmentation."""
