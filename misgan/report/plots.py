"""The report's figures, in report order: (title, file name, plot function). A plot function returns False
when results.json holds nothing to draw; each writes its PNG atomically (misgan.report.figure)."""

from __future__ import annotations

from misgan.report.confusion import plot_confusions
from misgan.report.gan_curves import plot_gan_curves
from misgan.report.tsne import plot_tsne
from misgan.report.uar import plot_learning_curve, plot_per_speaker, plot_ratios

PLOTS = (
    ("t-SNE of real and generated features (Fig. 2)", "tsne.png", plot_tsne),
    ("Confusion matrices (row-normalised, summed over folds and seeds)", "confusion.png", plot_confusions),
    ("GAN losses, MI bounds and class consistency per fold", "gan_curves.png", plot_gan_curves),
    ("UAR against the synthetic ratio", "uar_vs_ratio.png", plot_ratios),
    ("UAR per test speaker", "per_speaker.png", plot_per_speaker),
    ("Learning curve (UAR against the share of training rows)", "learning_curve.png", plot_learning_curve),
)
