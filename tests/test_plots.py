"""The report's figures (misgan.report.plots and the modules it lists): what a paper needs is on them, checked
on the matplotlib figure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from misgan.report import confusion as confusion_plot
from misgan.report import figure, gan_curves
from misgan.report import tsne as tsne_plot
from misgan.report import uar as uar_plots

LABELS = ["neutral", "happy", "sad", "angry"]
FOLDS = [f"spk-{i:02d}" for i in range(6)]
METHODS = {"none": 0.0, "noise": 0.01, "ours": -0.01}


def _results(fractions=(0.1, 0.25, 0.5, 1.0), seeds=3) -> dict:
    rng = np.random.default_rng(0)
    runs = []
    for f_i, fold in enumerate(FOLDS):
        for s in range(seeds):
            for frac in fractions:
                for v, d in METHODS.items():
                    cm = rng.integers(0, 10, (4, 4)) + np.eye(4, dtype=int) * 20
                    uar = 0.4 + 0.2 * frac + d + 0.02 * f_i + rng.normal(0, 0.02)
                    runs.append(
                        {"fold": fold, "seed": s, "variant": v, "ratio": 1.0, "fraction": frac,
                         "metrics": {"uar": float(uar), "confusion": cm.tolist()}}
                    )  # fmt: skip
    hist = {
        fold: [
            {"epoch": e, "d_loss": 1.0 + 0.1 * i, "g_adv": 0.7, "l_iy": 1.2 - 0.01 * e, "l_it": 3.0,
             "mi_bits": 0.5 + 0.01 * e, "infonce_bits": 1.0, "h_c_bits": 2.0, "consistency": 0.3 + 0.01 * e}
            for e in range(1, 11)
        ]
        for i, fold in enumerate(FOLDS[:3])
    }  # fmt: skip
    n = 40
    tsne = {
        "coords": rng.normal(size=(2 * n, 2)).tolist(),
        "labels": np.tile(np.arange(4), n // 2).tolist(),
        "source": ["real"] * n + ["generated"] * n,
    }
    return {"config": {"ratio": 1.0}, "label_names": LABELS, "folds": FOLDS, "seeds": list(range(seeds)),
            "runs": runs, "gan_history": hist, "tsne": tsne}  # fmt: skip


@pytest.fixture
def figures(monkeypatch):
    """Every figure a plot function saves, kept open for inspection (the PNG is still written)."""
    saved = []
    real = figure._save

    def keep(fig, path):
        fig.canvas.draw()
        saved.append(fig)
        buf = __import__("io").BytesIO()
        fig.savefig(buf, format="png")
        path.write_bytes(buf.getvalue())

    for module in (confusion_plot, gan_curves, tsne_plot, uar_plots):
        monkeypatch.setattr(module, "_save", keep)
    yield saved
    assert real is not None


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_confusions_are_labelled_normalised_and_have_a_colorbar(figures, tmp_path):
    res = _results()
    assert confusion_plot.plot_confusions(res, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    fig = figures[0]
    panels = [ax for ax in fig.axes if ax.get_title()]
    colorbars = [ax for ax in fig.axes if ax.get_ylabel().startswith("share of the true")]
    assert len(panels) == len(METHODS) and len(colorbars) == 1
    assert "row-normalised" in fig._suptitle.get_text()
    assert all(ax.get_xlabel() == "predicted" for ax in panels) and panels[0].get_ylabel() == "true"
    # the numbers: rows of the summed matrix of "none" at the largest fraction, normalised (independent sum)
    cm = sum(
        np.asarray(r["metrics"]["confusion"]) for r in res["runs"] if r["variant"] == "none" and r["fraction"] == 1
    )
    texts = [float(t.get_text()) for t in panels[0].texts]
    np.testing.assert_allclose(np.reshape(texts, (4, 4)), cm / cm.sum(1, keepdims=True), atol=0.006)
    renderer = fig.canvas.get_renderer()
    for ax in panels:  # the title sits clear of every tick label
        title = ax.title.get_window_extent(renderer)
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            assert not _overlap(title, label.get_window_extent(renderer))


def test_gan_curves_per_fold_and_mean_with_bits_and_fractions_apart(figures, tmp_path):
    res = _results()
    assert gan_curves.plot_gan_curves(res, tmp_path / "g.png")
    fig = figures[0]
    loss, bits, frac = fig.axes
    assert (loss.get_ylabel(), bits.get_ylabel()) == ("loss", "bits") and "fraction" in frac.get_ylabel()
    names = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert not {"l_iy", "g_adv", "d_loss", "mi_bits", "consistency"} & set(names)
    assert "class consistency of ĥ" in [t.get_text() for t in frac.get_legend().get_texts()]
    assert all("consistency" not in t.get_text() for t in bits.get_legend().get_texts())
    # 3 folds thin + 1 mean line per quantity; the mean line is the mean over folds (computed here)
    assert len(loss.lines) == 4 * 4
    mean_d = next(ln for ln in loss.lines if ln.get_label() == "discriminator loss")
    np.testing.assert_allclose(mean_d.get_ydata(), np.full(10, np.mean([1.0, 1.1, 1.2])))


def test_tsne_has_one_shared_legend_and_names_the_fold(figures, tmp_path):
    assert tsne_plot.plot_tsne(_results(), tmp_path / "t.png")
    fig = figures[0]
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    entries = [t.get_text() for t in fig.legends[0].get_texts()]
    assert entries == [*LABELS, "real", "generated"]
    assert "fold spk-00" in fig._suptitle.get_text()


def test_per_speaker_uar_sorted_by_none(figures, tmp_path):
    res = _results()
    assert uar_plots.plot_per_speaker(res, tmp_path / "s.png")
    ax = figures[0].axes[0]
    top = [r for r in res["runs"] if r["fraction"] == 1.0]
    none = {
        f: np.mean([100 * r["metrics"]["uar"] for r in top if r["fold"] == f and r["variant"] == "none"])
        for f in FOLDS
    }
    assert [t.get_text() for t in ax.get_xticklabels()] == sorted(FOLDS, key=none.get)
    line = next(ln for ln in ax.lines if ln.get_label().startswith("No augmentation"))
    np.testing.assert_allclose(line.get_ydata(), sorted(none.values()))


def test_learning_curve_means_and_confidence_bands(figures, tmp_path):
    res = _results()
    assert uar_plots.plot_learning_curve(res, tmp_path / "l.png")
    ax = figures[0].axes[0]
    line = next(ln for ln in ax.lines if ln.get_label() == "No augmentation")
    fractions = [0.1, 0.25, 0.5, 1.0]
    np.testing.assert_allclose(line.get_xdata(), fractions)
    verts = ax.collections[0].get_paths()[0].vertices  # "none" is drawn first
    for x, y in zip(fractions, line.get_ydata(), strict=True):
        vals = [100 * r["metrics"]["uar"] for r in res["runs"] if r["variant"] == "none" and r["fraction"] == x]
        assert y == pytest.approx(np.mean(vals))
        lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=np.mean(vals), scale=stats.sem(vals))
        at = verts[np.isclose(verts[:, 0], x), 1]
        assert at.min() == pytest.approx(lo) and at.max() == pytest.approx(hi)
    assert len(ax.collections) == len(METHODS)  # one band per method
    assert "fold × seed" in ax.get_title() and "18" in ax.get_title()
    # a single fraction has no curve
    one = {**res, "runs": [r for r in res["runs"] if r["fraction"] == 1.0]}
    assert not uar_plots.plot_learning_curve(one, tmp_path / "none.png")


def test_gan_curves_draw_a_history_shared_by_several_jobs_once(figures, tmp_path):
    """Cross-corpus: every test speaker's job records the one generator's history; it is one thin line."""
    res = _results()
    first = next(iter(res["gan_history"].values()))
    res["gan_history"] = {f"spk-{i}": first for i in range(12)}
    assert gan_curves.plot_gan_curves(res, tmp_path / "g.png")
    loss = figures[0].axes[0]
    assert len(loss.lines) == 4 * 2  # per loss: one thin line and its mean
