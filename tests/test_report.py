"""report.md and plots from a hand-made results.json (known numbers, no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from misgan.report.build import ReportError, build_report, load_results


def fake_results(tmp_path, with_extras: bool = True):
    folds = ["f1", "f2", "f3", "f4"]
    # UAR per fold: none 0.50, 0.60, 0.70, 0.80; ours +0.05 everywhere; smote equal to none
    base = {"f1": 0.5, "f2": 0.6, "f3": 0.7, "f4": 0.8}
    runs = []
    cm = [[3, 1], [1, 3]]
    for f in folds:
        for variant, delta in (("none", 0.0), ("smote", 0.0), ("ours", 0.05)):
            m = {"uar": base[f] + delta, "wa": base[f], "macro_f1": base[f], "confusion": cm}
            runs.append({"fold": f, "seed": 0, "variant": variant, "ratio": 1.0, "metrics": m})
        if with_extras:
            m = {"uar": base[f] + 0.1, "wa": base[f], "macro_f1": base[f], "confusion": cm}
            runs.append({"fold": f, "seed": 0, "variant": "ours", "ratio": 2.0, "metrics": m})
            for key, d in (("full", 0.05), ("noalign", 0.02), ("noalign_noaug", 0.0)):
                m = {"uar": base[f] + d, "wa": base[f], "macro_f1": base[f], "confusion": cm}
                runs.append({"fold": f, "seed": 0, "variant": f"ablation:{key}", "ratio": 1.0, "metrics": m})
    rng = np.random.default_rng(0)
    results = {
        "config": {"ratio": 1.0, "seed": 0, "gan": {"epochs": 5}, "mm_hidden": [256]},
        "cache": "x.zarr",
        "label_names": ["neg", "pos"],
        "folds": folds,
        "seeds": [0],
        "runs": runs,
        "multimodal": [
            {
                "fold": f,
                "seed": 0,
                "augmented": a,
                **{c: {"uar": base[f] + 0.01 * a} for c in ("audio", "text", "audio_text")},
            }
            for f in folds
            for a in (False, True)
        ],
        "class_counts": {"f1": {"before": [10, 4], "after": [10, 10]}},
    }
    if with_extras:
        results["tsne"] = {
            "coords": rng.normal(size=(20, 2)).tolist(),
            "labels": [0, 1] * 10,
            "source": ["real"] * 10 + ["generated"] * 10,
        }
        results["gan_history"] = {
            "f1": [
                {"epoch": e, "d_loss": 0.7, "g_adv": 0.7, "l_iy": 1 / e, "mi_bits": 0.1 * e} for e in range(1, 6)
            ]
        }
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_report_tables_and_figures(tmp_path):
    run = fake_results(tmp_path)
    md = build_report(run).read_text()
    assert "## Table II" in md and "## Table III" in md and "## Tables IV-V" in md
    # ours: 55, 65, 75, 85 -> 70.00 ± 12.91 (sample std); none: 65.00 ± 12.91; Δ exactly +5 on every fold
    assert "| Ours (MI-regularised InfoGAN, text-conditioned) | 65.00 ± 12.91 | 70.00 ± 12.91 |" in md
    assert "+5.00 [+5.00, +5.00]" in md
    # Wilcoxon of four equal positive differences: exact two-sided p = 2/16
    assert "| 0.125 |" in md
    # smote == none on every fold: p reported as 1 (all-zero differences)
    assert "| SMOTE | 65.00 ± 12.91 | 65.00 ± 12.91 |" in md and "+0.00 [+0.00, +0.00] | 1 |" in md
    assert "| Without cross-modal alignment | 67.00 ± 12.91 |" in md
    assert "| 2.0 | 75.00 ± 12.91 |" in md  # the ratio table
    assert "| before | 10 | 4 |" in md and "| after | 10 | 10 |" in md
    for name in ("tsne.png", "confusion.png", "gan_curves.png", "uar_vs_ratio.png"):
        assert f"]({name})" in md
        with Image.open(run / name) as im:
            im.verify()
        with Image.open(run / name) as im:
            assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 100


def test_report_without_optional_parts(tmp_path):
    run = fake_results(tmp_path, with_extras=False)
    md = build_report(run).read_text()
    assert "Table III" not in md and "tsne.png" not in md
    assert (run / "confusion.png").is_file() and not (run / "tsne.png").exists()


def test_load_results_errors_name_the_file(tmp_path):
    with pytest.raises(ReportError, match=r"results\.json: not found"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"runs": [\n  1,\n  oops]}')
    with pytest.raises(ReportError, match=r"results\.json:3: invalid JSON"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("[]")
    with pytest.raises(ReportError, match="not a misgan results file"):
        load_results(tmp_path)
